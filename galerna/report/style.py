"""How the run figures draw leases: a colour per lease type, greys and reds for the overheads."""
from __future__ import annotations

TYPE_COLORS = {"be": "#4C72B0", "ar": "#DD8452", "im": "#55A868", "deadline": "#8172B3"}
TYPE_NAMES = {"be": "best effort", "ar": "advance reservation", "im": "immediate", "deadline": "deadline"}
OVERHEAD_COLORS = {
    "boot": "#9a9a9a",
    "shutdown": "#9a9a9a",
    "transfer": "#E6C229",
    "migrate": "#8C564B",
    "suspend": "#D62728",
    "resume": "#D62728",
}
DPI = 110


def category_style(cat: str) -> tuple[str, str, str | None]:
    """(label, colour, hatch) of a category of ``lease_category``."""
    if cat.startswith("run:"):
        typ = cat[4:]
        return TYPE_NAMES.get(typ, typ), TYPE_COLORS.get(typ, "#777777"), None
    label = {"suspend": "suspend / resume", "resume": "suspend / resume", "boot": "boot / shutdown", "shutdown": "boot / shutdown"}.get(cat, cat)
    return label, OVERHEAD_COLORS.get(cat, "#444444"), ("////" if cat in ("suspend", "resume") else None)
