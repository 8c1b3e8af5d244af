"""Register file (YAML, JSON, or a CSV export with its mapping) -> ``Register``, or a
``RegisterError`` naming the place.

The fast path parses with the C loaders and validates once; only when validation
fails is the file composed again to find the line of each bad value.  Every error is
reported (as ``RegisterErrors``), each at its own line: a duplicate id at the
duplicate, not at the top of the file.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import ValidationError

from gateway.errors import ConfigError, RegisterError, RegisterErrors
from gateway.register import tabular
from gateway.register.mapping import load_mapping
from gateway.register.model import Register, error_reason
from gateway.yamlsource import Loc, Located, SourceError, dotted, parse_located

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """The C safe loader, refusing a key given twice in one mapping (YAML 1.2 forbids
    it; PyYAML would keep the last, and a first ``emails:`` list would be lost without
    a word).  The refusal sends the file to the slow parser, which names the line."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys = [key.value for key, _value in node.value if isinstance(key, yaml.ScalarNode)]
        if len(keys) != len(set(keys)):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        return super().construct_mapping(node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
Place = tabular.Place


class RegisterFile(NamedTuple):
    """A register file read and validated: the register, and the text the store keeps
    (the file's own text for YAML and JSON; the register as JSON for a CSV export)."""

    register: Register
    text: str
    format: Literal["yaml", "json"]


class PlacedFile(NamedTuple):
    """A register file read, and where in it (line, column) a register path came from."""

    source: RegisterFile
    place: Callable[[Loc], Place]


def read_register_file(
    path: Path, *, fmt: str | None = None, mapping: Path | None = None
) -> RegisterFile:
    """A register file of any accepted format (``fmt``: yaml, json or csv; by default
    from the file's suffix; csv needs a ``mapping``); a ``RegisterError`` otherwise."""
    return read_register_placed(path, fmt=fmt, mapping=mapping).source


def read_register_placed(
    path: Path, *, fmt: str | None = None, mapping: Path | None = None
) -> PlacedFile:
    """As ``read_register_file``, with a function from a register path (``("cases", 3,
    "protected", 0)``) to its place in the file, for warnings that point there."""
    file = str(path)
    kind = _format(file, fmt, mapping)
    if kind == "csv":
        if mapping is None:
            raise ConfigError(f"{file}: a CSV export needs --mapping MAP.yaml naming its columns")
        export = tabular.parse_export(_bytes(path), file, load_mapping(mapping))
        # pydantic's own serialiser: ten times as fast as json.dumps of model_dump()
        text = export.register.model_dump_json(exclude_defaults=True, indent=1)
        return PlacedFile(RegisterFile(export.register, text, "json"), export.place)
    data = _bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RegisterError(file, line, "cannot read register: not UTF-8 text") from None
    register = parse_register(text, file, fmt=kind)
    return PlacedFile(RegisterFile(register, text, kind), _lines_of(text, file))


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = f"cannot read register: {exc.__class__.__name__}"
        raise RegisterError(str(path), None, reason) from exc


def _format(file: str, fmt: str | None, mapping: Path | None) -> Literal["yaml", "json", "csv"]:
    kind = (fmt or file.rsplit(".", 1)[-1]).lower()
    if kind not in ("json", "csv"):
        kind = "yaml"
    if mapping is not None and kind != "csv":
        raise ConfigError(f"{file}: --mapping is for a CSV export (--format csv)")
    return "json" if kind == "json" else "csv" if kind == "csv" else "yaml"


def _lines_of(text: str, file: str) -> Callable[[Loc], Place]:
    """Register path -> (line, None) in a YAML or JSON text, composed on first use only
    (a clean register never needs it)."""
    cache: list[Located | None] = []

    def place(loc: Loc) -> Place:
        if not cache:
            try:
                cache.append(parse_located(text, file))
            except SourceError:  # e.g. a duplicate key the fast loader let through
                cache.append(None)
        located = cache[0]
        return (located.line_of(loc) if located else None), None

    return place


def load_register(path: Path) -> Register:
    """Read and validate a register file; every failure is a ``RegisterError``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(file, None, f"cannot read register: {exc.__class__.__name__}") from exc
    return parse_register(text, file)


def parse_register(text: str, file: str, *, fmt: str | None = None) -> Register:
    """YAML or JSON text (JSON when ``fmt`` or the file's name says so) -> ``Register``;
    ``RegisterErrors`` listing every error, each at its line, otherwise."""
    # A large register is millions of new objects, none in a cycle: the cyclic
    # collector would only walk them again and again (80% of the time at 100,000
    # cases), so it waits until the register is read.
    collecting = gc.isenabled()
    gc.disable()
    try:
        data = _fast_parse(text, file, json_text=fmt == "json" or file.endswith(".json"))
        try:
            return Register.model_validate(data)
        except ValidationError as exc:
            raise _located_errors(exc, text, file, data) from None
    finally:
        if collecting:
            gc.enable()


def read_data(text: str, file: str) -> Any:
    """A register's text -> its data, not yet validated (for the index builder, which
    validates it case by case on every core); a ``RegisterError`` if it does not parse."""
    return _fast_parse(text, file, json_text=file.endswith(".json"))


def _fast_parse(text: str, file: str, *, json_text: bool) -> Any:
    try:
        if json_text:
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - the C *safe* loader
    except (json.JSONDecodeError, yaml.YAMLError, ValueError):
        pass
    try:  # the slow parser gives the line of a syntax error
        return parse_located(text, file).data
    except SourceError as exc:
        raise RegisterError(file, exc.line, exc.reason) from None


def _located_errors(exc: ValidationError, text: str, file: str, data: Any) -> RegisterErrors:
    """Every validation error at its line; duplicate ids at each duplicate."""
    try:
        located: Located | None = parse_located(text, file)
    except SourceError:
        located = None

    def line_of(loc: Loc) -> int | None:
        return located.line_of(loc) if located else None

    errors = [
        _located_error(error, file, data, line_of)
        for error in exc.errors()
        if error["type"] != "duplicate_id"
    ]
    errors += _duplicates(data, file, line_of)
    if not errors:  # a duplicate the raw data does not show: say so at the top
        errors = [_located_error(error, file, data, line_of) for error in exc.errors()]
    errors.sort(key=lambda error: error.line or 0)
    return RegisterErrors(errors)


def _located_error(
    error: Any, file: str, data: Any, line_of: Callable[[Loc], int | None]
) -> RegisterError:
    loc: Loc = tuple(error["loc"])
    case = _case_id(data, loc)
    where = f"case {case}: " if case else ""
    return RegisterError(file, line_of(loc), f"{where}{dotted(loc)}: {error_reason(error)}")


def _duplicates(data: Any, file: str, line_of: Callable[[Loc], int | None]) -> list[RegisterError]:
    """An error at each id (of a case or a protected location) used before in the file."""
    if not isinstance(data, dict):
        return []
    first: dict[str, int | None] = {}
    out = []
    for section in ("cases", "protected_locations"):
        entries = data.get(section)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            ident = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(ident, str | int) or not str(ident).strip():
                continue
            key, loc = str(ident).strip(), (section, index, "id")
            if key in first:
                was = first[key]
                reason = f"duplicate id, first used at line {was}" if was else "duplicate id"
                out.append(
                    RegisterError(file, line_of(loc), f"case {key}: {dotted(loc)}: {reason}")
                )
            else:
                first[key] = line_of(loc)
    return out


def _case_id(data: Any, loc: Loc) -> str | None:
    if len(loc) >= 2 and loc[0] in ("cases", "protected_locations") and isinstance(loc[1], int):
        try:
            ident = data[loc[0]][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return str(ident) if ident is not None else None
    return None
