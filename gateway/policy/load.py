"""policy folder or file -> Policy, every mistake reported as a PolicyError at file:line.

Layout (after rspamd: shipped defaults and site changes never share a file):

- ``DIR/default/*.yaml``: the shipped rules, loaded in file-name order.  Two rules
  with the same id there are an error.
- ``DIR/local.d/*.yaml``: site changes, merged on top in file-name order.  An entry
  whose id is already known replaces only the top-level fields it gives (``when``
  is replaced as a whole; ``enabled: false`` disables the rule; ``mode: monitor``
  stops it from changing the action).  An entry with a new id is a new rule, added
  after the others.
- ``DIR/override.d/*.yaml``: full rules that replace the rule with the same id
  entirely (or are added, for a new id).  Applied last, so an override wins over
  ``local.d``.

A folder without ``default/`` is read as a plain folder: every ``*.yaml`` / ``*.yml``
in it, sorted, with unique ids.  A single file is accepted too.  A folder with no
policy file at all is an error rather than an empty policy, because a mistyped
``--policies`` would otherwise deliver every message unchecked; a policy whose
rules are all disabled is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.errors import PolicyError
from gateway.policy.model import Policy, Rule, RulesFile
from gateway.yamlsource import Loc, Located, SourceError, load_located

SUFFIXES = (".yaml", ".yml")


def default_policy_dir() -> Path:
    """The project's shipped ``policies/`` folder, found from any working directory:
    the checkout's top-level folder, else the copy an installed package carries
    (``gateway/policies`` is a link to it in the checkout, so wheels hold the files)."""
    # From this file rather than ``gateway.__file__``, which is None when the package
    # is imported as a namespace package (an editable install made before
    # ``gateway/__init__.py`` existed).
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "policies"
    return checkout if (checkout / "default").is_dir() else here.parents[1] / "policies"


def load_policy(path: Path) -> Policy:
    """Load the rules at ``path`` (layered folder, plain folder or one file)."""
    if path.is_file():
        return _plain([path])
    if not path.is_dir():
        raise PolicyError(str(path), None, "no such policy file or folder")
    if (path / "default").is_dir():
        return _layered(path)
    files = _yaml_files(path)
    if not files:
        raise PolicyError(str(path), None, "no policy files (*.yaml, *.yml) in this folder")
    return _plain(files)


@dataclass
class _Entry:
    """A rule being assembled: its raw fields and where each one was written."""

    raw: dict[str, Any]
    origin: dict[str, tuple[Located, int]] = field(default_factory=dict)
    last: tuple[Located, int] | None = None
    rule: Rule | None = None


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()]
    return sorted(found, key=lambda p: p.name)


def _plain(files: list[Path]) -> Policy:
    entries: dict[str, _Entry] = {}
    for path in files:
        _add_new(entries, path)
    return _policy(entries, files)


def _layered(root: Path) -> Policy:
    defaults = _yaml_files(root / "default")
    local = _yaml_files(root / "local.d")
    override = _yaml_files(root / "override.d")
    entries: dict[str, _Entry] = {}
    for path in defaults:
        _add_new(entries, path)
    for path in local:
        for doc, index, raw, rule_id in _raw_rules(path):
            if rule_id in entries:
                _merge(entries[rule_id], doc, index, raw)
            else:
                entries[rule_id] = _fresh(doc, index, raw)
    for path in override:
        for doc, index, raw, rule_id in _raw_rules(path):
            entries[rule_id] = _fresh(doc, index, raw)
    return _policy(entries, [*defaults, *local, *override])


def _add_new(entries: dict[str, _Entry], path: Path) -> None:
    for doc, index, raw, rule_id in _raw_rules(path):
        if rule_id in entries:
            first = entries[rule_id].last
            where = f" (first defined at {first[0].file}:{_line(first, ('id',))})" if first else ""
            raise PolicyError(
                doc.file, _line((doc, index), ("id",)), f"duplicate rule id {rule_id!r}{where}"
            )
        entries[rule_id] = _fresh(doc, index, raw)


def _fresh(doc: Located, index: int, raw: dict[str, Any]) -> _Entry:
    entry = _Entry(raw=dict(raw), origin=dict.fromkeys(raw, (doc, index)), last=(doc, index))
    entry.rule = _validate(entry)
    return entry


def _merge(entry: _Entry, doc: Located, index: int, patch: dict[str, Any]) -> None:
    entry.raw.update(patch)
    entry.origin.update(dict.fromkeys(patch, (doc, index)))
    entry.last = (doc, index)
    entry.rule = _validate(entry)


def _policy(entries: dict[str, _Entry], files: list[Path]) -> Policy:
    rules = tuple(e.rule for e in entries.values() if e.rule is not None)
    return Policy(rules=rules, sources=tuple(str(p) for p in files))


def _raw_rules(path: Path) -> list[tuple[Located, int, dict[str, Any], str]]:
    """The rule mappings of one file, each with its id; ids unique within the file."""
    doc = _read(path)
    if doc.data is None:
        return []
    if not isinstance(doc.data, dict):
        raise PolicyError(doc.file, 1, "a policy file is a mapping with a 'rules' list")
    try:
        parsed = RulesFile.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PolicyError(doc.file, _key_line(doc, err["loc"]), _reason(err, None)) from exc
    out: list[tuple[Located, int, dict[str, Any], str]] = []
    seen: set[str] = set()
    for index, raw in enumerate(parsed.rules):
        rule_id = raw.get("id")
        if not isinstance(rule_id, str):
            line = doc.line_of(("rules", index, "id"))
            raise PolicyError(doc.file, line, "every rule needs an 'id' (a string)")
        if rule_id in seen:
            line = doc.line_of(("rules", index, "id"))
            raise PolicyError(doc.file, line, f"duplicate rule id {rule_id!r} in this file")
        seen.add(rule_id)
        out.append((doc, index, raw, rule_id))
    return out


def _read(path: Path) -> Located:
    try:
        return load_located(path)
    except SourceError as exc:
        raise PolicyError(str(path), exc.line, exc.reason) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(str(path), None, "not UTF-8 text") from exc
    except OSError as exc:
        raise PolicyError(str(path), None, f"cannot read: {exc.strerror or exc}") from exc


def _validate(entry: _Entry) -> Rule:
    try:
        return Rule.model_validate(entry.raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        # The error belongs to the file that wrote the offending field, which after a
        # local.d merge may differ from the file that wrote the rule.
        where = entry.origin.get(str(loc[0])) if loc else None
        where = where or entry.last
        assert where is not None  # an entry always has the file it came from
        rule_id = entry.raw.get("id")
        reason = _reason(err, rule_id if isinstance(rule_id, str) else None)
        raise PolicyError(where[0].file, _line(where, loc), reason) from exc


def _line(where: tuple[Located, int], loc: Loc) -> int | None:
    doc, index = where
    return _key_line(doc, ("rules", index, *loc))


def _key_line(doc: Located, loc: Loc) -> int | None:
    """The line of ``loc``'s key, where a reader looks for the mistake.

    Located knows where values start; a block mapping or list starts on the line
    after its key, so look back for the key itself (only on the error path).
    """
    line = doc.line_of(loc)
    if line is None or not loc or not isinstance(loc[-1], str) or loc not in doc.lines:
        return line
    floor = doc.line_of(loc[:-1]) or 1
    pattern = re.compile(rf"\s*(?:-\s+)?{re.escape(loc[-1])}\s*:")
    try:
        text = Path(doc.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return line
    for number in range(min(line, len(text)), floor - 1, -1):
        if pattern.match(text[number - 1]):
            return number
    return line


def _reason(err: ErrorDetails, rule_id: str | None) -> str:
    """A short reason naming the field; never echoes more than the offending scalar."""
    loc = err["loc"]
    names = [str(part) for part in loc if isinstance(part, str)]
    label = ".".join(names) or "rule"
    kind = err["type"]
    expected = (err.get("ctx") or {}).get("expected")
    if kind == "extra_forbidden":
        text = f"unknown field {label!r}"
    elif kind == "missing":
        text = f"missing field {label!r}"
    elif kind == "enum" and names and names[-1] == "findings":
        text = f"{label}: unknown finding kind {err['input']!r} (expected {expected})"
    elif kind == "enum":
        text = f"{label}: {err['input']!r} is not one of {expected}"
    else:
        message = err["msg"].removeprefix("Value error, ")
        text = f"{label}: {message}"
    return f"rule {rule_id!r}: {text}" if rule_id else text
