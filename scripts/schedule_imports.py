"""The import graph inside galerna/schedule/, read with ``ast``: prints each module's imports
of its siblings and every import circle, and exits 1 when there is one.

Imports under ``if TYPE_CHECKING:`` count too: a circle drawn only for type hints is
still one a reader has to untangle.

Usage: python scripts/schedule_imports.py [PACKAGE_DIR]    (default galerna/schedule)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, base: Path) -> str:
    rel = path.relative_to(base.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["galerna", *parts]) if parts[0] != "galerna" else ".".join(parts)


def imports_of(path: Path, package: str) -> set[str]:
    """Sibling modules (under ``package``) that the file imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out.update(n for n in names if n == package or n.startswith(package + "."))
    return out


def graph(pkg_dir: Path) -> dict[str, set[str]]:
    package = module_name(pkg_dir / "__init__.py", pkg_dir)
    files = {module_name(p, pkg_dir): p for p in sorted(pkg_dir.rglob("*.py"))}
    g: dict[str, set[str]] = {}
    for mod, path in files.items():
        # an imported name that is not a module (``from x import Name``) counts as its module
        g[mod] = {n for n in imports_of(path, package) if n in files and n != mod}
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    pkg_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "galerna" / "schedule"
    g = graph(pkg_dir.resolve())
    top = min(g, key=len)

    def short(m: str) -> str:
        return m[len(top) + 1:] or m

    for mod in sorted(g):
        print(f"{short(mod)}: {', '.join(sorted(short(m) for m in g[mod])) or '-'}")
    found = cycles(g)
    for c in found:
        print("CIRCLE: " + " <-> ".join(short(m) for m in c))
    print(f"{len(g)} modules, {len(found)} import circle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
