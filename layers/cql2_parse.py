"""Reading a CQL2 filter safely: size and nesting limits, then cql2's parser, then a check that
only offered operators appear. The result is cql2's JSON tree, which `cql2_filter` compiles.

The limits come first because cql2's text parser recurses once per nesting level and overflows the
C stack (a segfault, not an exception) after a few hundred levels.
"""

from __future__ import annotations

import re
from typing import Any

import cql2

from geo.errors import ValidationError

LANGS = ("cql2-text", "cql2-json")
MAX_LENGTH = 20_000
MAX_DEPTH = 20
MAX_NODES = 500
MAX_IN_VALUES = 1_000
MAX_COORDINATES = 10_000
# Brackets and NOT/sign chains allowed before parsing: cql2's parser recurses once per level and
# overflows the C stack (a segfault, not an exception) after a few hundred levels.
MAX_LEXICAL_NESTING = 2 * MAX_DEPTH + 10
_TOKENS = {  # strings (quotes doubled inside), words, single characters
    "cql2-text": re.compile(r"""'[^']*'|"[^"]*"|\w+|\S"""),
    "cql2-json": re.compile(r'"(?:[^"\\]|\\.)*"|\w+|\S'),
}


def parse_filter(text: str, lang: str, *, supported: set[str], known: set[str]) -> Any:
    """The CQL2 JSON tree of `text`, refused when too long, too deep, too large, malformed, or
    using an operator outside `supported` (`known` names standard CQL2 operators not offered)."""
    if not isinstance(text, str):
        raise filter_error("the filter must be text", text)
    if len(text) > MAX_LENGTH:
        message = f"filter is too long ({len(text):,} characters; at most {MAX_LENGTH:,})"
        raise filter_error(message, text[:200])
    _check_nesting(text, _TOKENS[lang])
    tree = _parse(text, lang)
    _check_tree(tree, text, supported, known)
    return tree


def filter_error(message: str, value: object, detail: str | None = None) -> ValidationError:
    return ValidationError(message, field="filter", value=value, detail=detail)


def _too_deep(text: str) -> ValidationError:
    return filter_error(f"filter is nested too deeply (more than {MAX_DEPTH} levels)", text[:200])


def _check_nesting(text: str, tokens: re.Pattern[str]) -> None:
    """Refuse bracket or NOT/sign chains deep enough to overflow the parser, before parsing."""
    stack: list[int] = []
    level = run = 0
    for match in tokens.finditer(text):
        token = match.group()
        if token in ("(", "[", "{"):
            stack.append(level)
            level, run = level + run + 1, 0
        elif token in (")", "]", "}"):
            level, run = (stack.pop() if stack else 0), 0
        elif token in ("-", "+") or token.upper() == "NOT":
            run += 1
        else:
            run = 0
        if level + run > MAX_LEXICAL_NESTING:
            raise _too_deep(text)


def _parse(text: str, lang: str) -> Any:
    """The CQL2 JSON tree of the filter, or a readable syntax error."""
    try:
        expr = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        return expr.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        raise filter_error(_syntax_message(str(exc), lang), text, str(exc)) from exc


def _syntax_message(raw: str, lang: str) -> str:
    """One line from the parser's report: where it stopped and what it expected."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    where = re.search(r"-->\s*(\d+):(\d+)", raw)
    expected = next((line[1:].strip() for line in lines if line.startswith("=")), None)
    if where and expected:
        return f"syntax error at line {where[1]}, column {where[2]}: {expected}"
    if "untagged enum" in raw:
        return "invalid CQL2 JSON: not a CQL2 expression (check 'op', 'args' and 'property')"
    first = lines[0] if lines else "unreadable filter"
    return f"invalid CQL2 JSON: {first}" if lang == "cql2-json" else f"syntax error: {first}"


def _check_tree(tree: Any, text: str, supported: set[str], known: set[str]) -> None:
    """Refuse operators and functions not offered, nesting past MAX_DEPTH, over MAX_NODES terms.

    Values inside lists (`in`) are looked into but not counted: MAX_IN_VALUES bounds those.
    """
    nodes = 0
    stack: list[tuple[Any, int, bool]] = [(tree, 0, True)]
    while stack:
        node, depth, counted = stack.pop()
        if isinstance(node, list):
            stack.extend((item, depth, False) for item in node)
        if not isinstance(node, dict):
            continue
        nodes += counted
        if nodes > MAX_NODES:
            raise filter_error(f"filter is too large (more than {MAX_NODES} terms)", text[:200])
        if "op" in node:
            if depth >= MAX_DEPTH:
                raise _too_deep(text)
            name = str(node["op"])
            if name.lower() not in supported:
                kind = "operator" if name.lower() in known else "function"
                raise filter_error(f"{kind} '{name}' is not supported", name)
            if isinstance(node.get("args"), list):
                stack.extend((arg, depth + 1, True) for arg in node["args"])
