"""YAML or JSON file -> plain data plus the line of every value, for file:line errors.

Uses PyYAML's safe composer only (no tags, no object construction).  JSON is read by
the same composer, so a JSON register reports lines too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """A loaded document and the 1-based line where each value starts."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known value on ``loc``'s path."""
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return line
        return None


class SourceError(Exception):
    """A file that is not valid YAML/JSON; carries the line when known."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(reason)


def load_located(path: Path) -> Located:
    """Read ``path`` as YAML or JSON; raise ``SourceError`` or ``OSError``."""
    text = path.read_text(encoding="utf-8")
    return parse_located(text, str(path))


def parse_located(text: str, file: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = _error_line(exc, text)
        raise SourceError(line, f"not valid YAML/JSON: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise SourceError(None, f"not valid YAML/JSON: {exc}") from exc
    if node is None:
        return Located(file, None, {(): 1})
    lines: dict[Loc, int] = {}
    data = _build(node, (), lines)
    return Located(file, data, lines)


def _error_line(exc: yaml.MarkedYAMLError, text: str) -> int | None:
    """The problem's line; the context's when the problem is only "end of file"."""
    problem, context = exc.problem_mark, exc.context_mark
    if problem is not None and context is not None and problem.index >= len(text.rstrip()):
        return int(context.line) + 1
    mark = problem or context
    return int(mark.line) + 1 if mark is not None else None


#: what a field name looks like; any other key may be a value typed as a key
#: (``Sarah Davies:``), which a message never echoes
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def dotted(loc: Loc) -> str:
    """``cases[0].protected[1].emails[0]``; a key that does not look like a field name
    is shown as ``<key>``, never echoed."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if FIELD_NAME.fullmatch(str(part)) else "<key>"
        out += f".{name}" if out else name
    return out or "(top level)"


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    """Plain data from a composed node; a mapping value's line is its key's line."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in out:  # named only when it looks like a field name (FIELD_NAME)
                shown = repr(key) if FIELD_NAME.fullmatch(str(key)) else "(a key)"
                raise SourceError(key_node.start_mark.line + 1, f"duplicate key {shown}")
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*loc, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*loc, i), lines) for i, child in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SourceError(node.start_mark.line + 1, "a key must be a plain value")
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)  # type: ignore[no-untyped-call]
    except ValueError:  # e.g. an impossible date: let the model say what is wrong
        return node.value
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
