"""The core's layout holds: no oversized class without its reason, and the shells use only the core's
public operations. (Import circles and module sizes, the core's included, are tests/test_structure.py's.)"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = ROOT / "galerna" / "schedule"


def test_no_class_over_300_lines_unless_its_docstring_says_why():
    big = []
    for path in SCHEDULE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno > 300:
                doc = (ast.get_docstring(node) or "") + (ast.get_docstring(tree) or "")
                if "one piece" not in doc:
                    big.append(f"{path.name}:{node.name}")
    assert big == []


def _private_uses(path: Path, names: set[str]) -> list[str]:
    """``core._x`` style uses: attribute names starting with one underscore on a variable in ``names``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            v = node.value
            while isinstance(v, ast.Attribute):
                v = v.value
            if isinstance(v, ast.Name) and v.id in names:
                out.append(f"{path.name}:{node.lineno} {v.id}.{node.attr}")
    return out


def test_the_shells_touch_no_private_member_of_the_core(tmp_path):
    shells = [ROOT / "galerna" / "daemon" / "snapshot.py", *sorted((ROOT / "galerna" / "sim").glob("*.py"))]
    found = [u for p in shells for u in _private_uses(p, {"core", "sched", "scheduler"})]
    assert found == []
    probe = tmp_path / "probe.py"  # the check itself sees such a use
    probe.write_text("def f(core):\n    return core.book._by_seq, core._adopt\n")
    assert _private_uses(probe, {"core"}) == ["probe.py:2 core._by_seq", "probe.py:2 core._adopt"]
