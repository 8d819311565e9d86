"""One self-contained HTML page: figures embedded as data URIs (each also linked to its PNG next
to the page), tables inline, no scripts or external resources, so it opens offline."""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Iterable

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f4f4f4}
td.s,th.s{text-align:left} tr.failed td{background:#fde8e8}
.meta{color:#666;font-size:.9em} details{margin:1em 0} code{background:#f4f4f4;padding:0 .2em}
"""


def fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.1f}"
        return f"{v:.4g}"
    return str(v)


def table_html(rows: list[dict], columns: list[str] | None = None, headings: dict[str, str] | None = None,
               formats: dict[str, str] | None = None, links: dict[str, str] | None = None) -> str:
    """An HTML table of dict rows. ``formats`` maps a column to a format string; ``links`` maps a
    column to the column whose value is an href for it."""
    if not rows:
        return "<p class='meta'>(no rows)</p>"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    headings = headings or {}
    formats = formats or {}
    links = links or {}
    out = ["<table><thead><tr>"]
    for c in columns:
        out.append(f"<th class='s'>{html.escape(headings.get(c, c))}</th>")
    out.append("</tr></thead><tbody>")
    for r in rows:
        cls = " class='failed'" if r.get("status") == "failed" else ""
        out.append(f"<tr{cls}>")
        for c in columns:
            v = r.get(c)
            if c in formats and isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v)):
                text = formats[c].format(v)
            else:
                text = fmt_value(v)
            text = html.escape(text)
            if c in links and r.get(links[c]):
                text = f"<a href='{html.escape(str(r[links[c]]), quote=True)}'>{text}</a>"
            s = isinstance(v, str) or v is None
            out.append(f"<td class='s'>{text}</td>" if s else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def kv_table(d: dict) -> str:
    rows = [{"metric": k, "value": v} for k, v in d.items() if not isinstance(v, (dict, list))]
    return table_html(rows, ["metric", "value"])


def figure_html(out_dir: Path, fig: dict) -> str:
    png = (Path(out_dir) / fig["file"]).read_bytes()
    data = base64.b64encode(png).decode("ascii")
    name = html.escape(fig["file"], quote=True)
    return (
        f"<figure><a href='{name}'><img src='data:image/png;base64,{data}' alt='{html.escape(fig['title'], quote=True)}'></a>"
        f"<figcaption><b>{html.escape(fig['title'])}.</b> {html.escape(fig.get('caption', ''))} "
        f"(<a href='{name}'>{name}</a>)</figcaption></figure>"
    )


def write_page(out_dir: Path, title: str, subtitle: str, figures: Iterable[dict], sections: Iterable[tuple[str, str]] = (),
               before_figures: Iterable[tuple[str, str]] = (), name: str = "index.html") -> Path:
    """index.html in ``out_dir``: title, sections before the figures, figures, further sections.
    Each section is (heading, already-escaped HTML)."""
    out_dir = Path(out_dir)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(subtitle)}</p>",
    ]
    for heading, body in before_figures:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    for fig in figures:
        parts.append(f"<h2>{html.escape(fig['title'])}</h2>{figure_html(out_dir, fig)}")
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    path = out_dir / name
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
