"""A minimal XML tree that remembers line numbers.

ElementTree drops them, and a reader that says "bad time in lease 7" without
a line leaves the user grepping; expat gives us the line for free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from galerna.readers.errors import TraceError


@dataclass(eq=False)
class Node:
    tag: str
    attrib: dict[str, str]
    line: int
    children: list["Node"] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrib.get(name, default)

    def find(self, path: str) -> "Node | None":
        found = self.findall(path)
        return found[0] if found else None

    def findall(self, path: str) -> list["Node"]:
        """Children matching a ``a/b/c`` path of tag names (no wildcards)."""
        level = [self]
        for tag in path.split("/"):
            level = [c for n in level for c in n.children if c.tag == tag]
        return level

    def __iter__(self):
        return iter(self.children)


def parse(path: Path, data: bytes) -> Node:
    """Parse XML ``data`` read from ``path``; XML errors raise TraceError with the parser's line."""
    parser = expat.ParserCreate()
    stack: list[Node] = []
    root: list[Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = Node(tag, attrib, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise TraceError(path, e.lineno, f"XML error: {expat.ErrorString(e.code)} (column {e.offset + 1})") from None
    if not root:
        raise TraceError(path, None, "no XML element found")
    return root[0]
