"""OpenNebula templates: the `NAME = "value"` / `NAME = [ A = "x", B = "y" ]` syntax and its XML form.

oned keeps a template as a multimap of attribute names (upper-cased by its parser) to either a single value or a
vector of sub-attributes, and accepts it either in its own syntax or as XML (`Template::parse_str_or_xml`). Both come
here: pyone sends a flat dict as `K="v"` lines and a nested one as `<TEMPLATE>` XML.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

Value = str | dict[str, str]


class TemplateSyntaxError(ValueError):
    """A template that neither oned's template parser nor its XML reader would accept."""


@dataclass
class Template:
    """An ordered multimap NAME -> value, where a value is a string or a vector (dict of sub-attributes)."""

    attrs: list[tuple[str, Value]] = field(default_factory=list)

    def get(self, name: str, default: Value | None = None) -> Value | None:
        name = name.upper()
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[Value]:
        name = name.upper()
        return [value for key, value in self.attrs if key == name]

    def names(self) -> list[str]:
        return [key for key, _ in self.attrs]

    def set(self, name: str, value: Value) -> None:
        """Replace every attribute called `name` by one (oned's `Template::replace`)."""
        self.erase(name)
        self.attrs.append((name.upper(), value))

    def add(self, name: str, value: Value) -> None:
        self.attrs.append((name.upper(), value))

    def erase(self, name: str) -> None:
        name = name.upper()
        self.attrs = [(key, value) for key, value in self.attrs if key != name]

    def merge(self, other: Template) -> None:
        """oned's `Template::merge`: each name in `other` replaces all attributes of that name here."""
        for name in dict.fromkeys(other.names()):
            self.erase(name)
        for key, value in other.attrs:
            self.attrs.append((key, copy.deepcopy(value)))

    def copy(self) -> Template:
        return Template(copy.deepcopy(self.attrs))

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def parse_template(text: str) -> Template:
    """Parse a template given in oned's attribute syntax or as XML, as `parse_str_or_xml` does."""
    stripped = text.strip()
    if stripped.startswith("<"):
        return _parse_xml(stripped)
    return _TemplateParser(text).parse()


def _parse_xml(text: str) -> Template:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TemplateSyntaxError(f"Error parsing XML template: {exc}") from None
    template = Template()
    for child in root:
        if len(child):
            template.add(child.tag, {sub.tag.upper(): sub.text or "" for sub in child})
        else:
            template.add(child.tag, child.text or "")
    return template


class _TemplateParser:
    """A hand parser for oned's template grammar (`src/parsers/template_syntax.y`): small enough not to need a library."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1

    def error(self, what: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(f"Parse error: {what} at line {self.line}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def advance(self) -> str:
        char = self.text[self.pos]
        self.pos += 1
        if char == "\n":
            self.line += 1
        return char

    def skip_blank(self, newlines: bool = True) -> None:
        while self.pos < len(self.text):
            char = self.peek()
            if char == "#":
                while self.pos < len(self.text) and self.peek() != "\n":
                    self.advance()
            elif char in " \t\r" or (newlines and char == "\n"):
                self.advance()
            else:
                return

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.peek().isalnum() or self.peek() in "_-"):
            self.advance()
        if start == self.pos:
            found = self.peek() or "end of template"
            raise self.error(f"syntax error, unexpected {found!r}, expecting VARIABLE")
        return self.text[start:self.pos].upper()

    def expect(self, char: str) -> None:
        self.skip_blank()
        if self.peek() != char:
            found = self.peek() or "end of template"
            raise self.error(f"syntax error, unexpected {found!r}, expecting {char!r}")
        self.advance()

    def quoted(self) -> str:
        self.advance()  # opening quote
        out = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("syntax error, unterminated string")
            char = self.advance()
            if char == "\\" and self.peek() in ('"', "\\"):
                out.append(self.advance())
            elif char == '"':
                return "".join(out)
            else:
                out.append(char)

    def bare(self, stops: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.peek() not in stops:
            self.advance()
        return self.text[start:self.pos].strip()

    def scalar(self, stops: str) -> str:
        self.skip_blank(newlines=False)
        if self.peek() == '"':
            return self.quoted()
        return self.bare(stops)

    def vector(self) -> dict[str, str]:
        self.advance()  # [
        values: dict[str, str] = {}
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.advance()
                return values
            key = self.name()
            self.expect("=")
            values[key] = self.scalar(",]\n")
            self.skip_blank()
            if self.peek() == ",":
                self.advance()
            elif self.peek() != "]":
                found = self.peek() or "end of template"
                raise self.error(f"syntax error, unexpected {found!r}, expecting ',' or ']'")

    def parse(self) -> Template:
        template = Template()
        while True:
            self.skip_blank()
            if self.pos >= len(self.text):
                return template
            key = self.name()
            self.expect("=")
            self.skip_blank(newlines=False)
            if self.peek() == "[":
                template.add(key, self.vector())
            else:
                template.add(key, self.scalar("\n"))
