"""Register file (YAML or JSON) -> ``Register``, or a ``RegisterError`` naming the place.

The fast path parses with the C loaders and validates once; only when validation
fails is the file composed again to find the line of the bad value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import ValidationError

from gateway.errors import RegisterError
from gateway.register.model import Register
from gateway.yamlsource import Loc, SourceError, parse_located

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RegisterFile(NamedTuple):
    """A register file read and validated: the register, and the text the store keeps
    (the file's own text for YAML and JSON; the register as JSON for a CSV export)."""

    register: Register
    text: str
    format: Literal["yaml", "json"]


def read_register_file(
    path: Path, *, fmt: str | None = None, mapping: Path | None = None
) -> RegisterFile:
    """A register file of any accepted format (``fmt``: yaml, json or csv; by default
    from the file's suffix; csv needs a ``mapping``); a ``RegisterError`` otherwise."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(file, None, f"cannot read register: {exc.__class__.__name__}") from exc
    kind = (
        "json"
        if (fmt or "").lower() == "json" or (fmt is None and file.endswith(".json"))
        else "yaml"
    )
    return RegisterFile(parse_register(text, file), text, kind)


def load_register(path: Path) -> Register:
    """Read and validate a register file; every failure is a ``RegisterError``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(file, None, f"cannot read register: {exc.__class__.__name__}") from exc
    return parse_register(text, file)


def parse_register(text: str, file: str) -> Register:
    data = _fast_parse(text, file)
    try:
        return Register.model_validate(data)
    except ValidationError as exc:
        raise _located_error(exc, text, file, data) from None


def _fast_parse(text: str, file: str) -> Any:
    try:
        if file.endswith(".json"):
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - the C *safe* loader
    except (json.JSONDecodeError, yaml.YAMLError, ValueError):
        pass
    try:  # the slow parser gives the line of a syntax error
        return parse_located(text, file).data
    except SourceError as exc:
        raise RegisterError(file, exc.line, exc.reason) from None


def _located_error(exc: ValidationError, text: str, file: str, data: Any) -> RegisterError:
    error = exc.errors()[0]
    loc: Loc = tuple(error["loc"])
    try:
        located = parse_located(text, file)
        line = located.line_of(loc)
    except SourceError:
        line = None
    field = _dotted(loc)
    case = _case_id(data, loc)
    where = f"case {case}: " if case else ""
    return RegisterError(file, line, f"{where}{field}: {_message(error)}")


_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _dotted(loc: Loc) -> str:
    """``cases[0].protected[1].emails[0]``; a key that does not look like a field name
    (``Sarah Davies:``, a value typed as a key) is shown as ``<key>``, never echoed."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if _FIELD_NAME.fullmatch(str(part)) else "<key>"
        out += f".{name}" if out else name
    return out or "(top level)"


def _case_id(data: Any, loc: Loc) -> str | None:
    if len(loc) >= 2 and loc[0] in ("cases", "protected_locations") and isinstance(loc[1], int):
        try:
            ident = data[loc[0]][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return str(ident) if ident is not None else None
    return None


def _message(error: Any) -> str:
    """Pydantic's message without the offending input (it may be a protected value)."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
