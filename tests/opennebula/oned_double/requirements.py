"""A small evaluator for oned's SCHED_REQUIREMENTS expressions against a host (`Host::eval_bool`).

It covers what schedulers write in practice: `ATTR = value`, `ATTR != value`, `ATTR > n`, `ATTR < n`, `!( ... )`,
`&`, `|` and parentheses, where ATTR is ID, NAME, CLUSTER_ID or an attribute of the host's TEMPLATE. Values may be
quoted; `*` in a quoted value is a wildcard, as in oned. Anything else is a RequirementsError (oned's "Error in
SCHED_REQUIREMENTS").
"""
from __future__ import annotations

import fnmatch
import re

from .model import Host

_TOKEN = re.compile(r'\s*(?:(!=|=|>|<|!|&|\||\(|\))|"([^"]*)"|([A-Za-z0-9_.\-/]+))')


class RequirementsError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise RequirementsError(f"syntax error at {text[pos:]!r}")
        op, quoted, word = match.groups()
        out.append(("op", op) if op else ("str", quoted) if quoted is not None else ("word", word))
        pos = match.end()
    return out


def _host_value(host: Host, name: str) -> str | None:
    name = name.upper()
    if name == "ID":
        return str(host.id)
    if name == "NAME":
        return host.name
    if name == "CLUSTER_ID":
        return str(host.cluster_id)
    value = host.template.get(name)
    return value if isinstance(value, str) else None


def evaluate(expression: str, host: Host) -> bool:
    """True when the host meets the expression (an empty one always does)."""
    tokens = _tokens(expression)
    if not tokens:
        return True
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def take():
        nonlocal pos
        if pos >= len(tokens):
            return (None, "end of expression")
        pos += 1
        return tokens[pos - 1]

    def disjunction() -> bool:
        value = conjunction()
        while peek() == ("op", "|"):
            take()
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        value = unary()
        while peek() == ("op", "&"):
            take()
            value = unary() and value
        return value

    def unary() -> bool:
        if peek() == ("op", "!"):
            take()
            return not unary()
        if peek() == ("op", "("):
            take()
            value = disjunction()
            if take() != ("op", ")"):
                raise RequirementsError("syntax error, expecting ')'")
            return value
        kind, name = take()
        if kind != "word":
            raise RequirementsError(f"syntax error, unexpected {name!r}")
        kind, op = take()
        if kind != "op" or op not in ("=", "!=", ">", "<"):
            raise RequirementsError(f"syntax error, unexpected {op!r}, expecting an operator")
        kind, wanted = take()
        if kind not in ("word", "str"):
            raise RequirementsError(f"syntax error, unexpected {wanted!r}, expecting a value")
        actual = _host_value(host, name)
        if actual is None:
            return op == "!="
        if op in (">", "<"):
            try:
                a, w = float(actual), float(wanted)
            except ValueError:
                return False
            return a > w if op == ">" else a < w
        equal = fnmatch.fnmatchcase(actual, wanted) if kind == "str" else actual == wanted
        return equal if op == "=" else not equal

    value = disjunction()
    if pos != len(tokens):
        raise RequirementsError(f"syntax error, unexpected {tokens[pos][1]!r}")
    return value
