"""Two registers -> what changed between them, by id: added, removed, changed.

A change names the fields that differ (``protected[0].addresses``, ``allowed_recipients``,
``restricted (+1)``), never their values, so a diff can be printed, shown in the console
and counted in the audit log.  Order does not count: the same people, addresses or
recipients in another order are the same register (the matcher does not read order).

A large register takes seconds to validate, so the store keeps beside each version its
``canonical`` form (each case's validated JSON, by id): ``diff_canonical`` compares a
new register with that, and validates only the old entries whose JSON differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from gateway.register.model import Case, ProtectedLocation, Register

PEOPLE = ("protected", "restricted")
_Entry = TypeVar("_Entry", Case, ProtectedLocation)


@dataclass(frozen=True)
class Changed:
    """One id present on both sides, and the names of the fields that differ."""

    id: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SectionDiff:
    """One list of the register (cases, or protected locations) compared by id."""

    before: int
    after: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[Changed, ...] = ()

    @property
    def unchanged(self) -> int:
        return self.after - len(self.added) - len(self.changed)

    @property
    def shrink(self) -> float:
        """The share of the entries before that the change removes (0.0 to 1.0)."""
        return len(self.removed) / self.before if self.before else 0.0

    def totals(self, what: str) -> str:
        """``cases: 1 added, 0 removed, 2 changed, 7 unchanged (9 -> 10)``."""
        return (
            f"{what}: {len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} changed, {self.unchanged} unchanged "
            f"({self.before} -> {self.after})"
        )


@dataclass(frozen=True)
class RegisterDiff:
    """What replacing one register with another does to its cases and protected locations."""

    cases: SectionDiff
    locations: SectionDiff

    @property
    def empty(self) -> bool:
        """True when the two registers protect exactly the same (order aside)."""
        return not any(s.added or s.removed or s.changed for s in (self.cases, self.locations))

    @property
    def shrink(self) -> float:
        """The larger share removed: of the cases, or of the protected locations."""
        return max(self.cases.shrink, self.locations.shrink)

    def counts(self) -> str:
        """``2 added, 1 removed, 3 changed; 40 cases, 1 protected locations`` (audit text)."""
        both = (self.cases, self.locations)
        return (
            f"{sum(len(s.added) for s in both)} added, {sum(len(s.removed) for s in both)}"
            f" removed, {sum(len(s.changed) for s in both)} changed; {self.cases.after} cases,"
            f" {self.locations.after} protected locations"
        )


def diff_registers(old: Register | None, new: Register) -> RegisterDiff:
    """``old`` (``None``: an empty store) -> ``new``: per id, added, removed, changed."""
    cases = {c.id: c for c in ([] if old is None else old.cases)}
    places = {p.id: p for p in ([] if old is None else old.protected_locations)}
    return RegisterDiff(
        _section(list(cases), new.cases, lambda e: _differing(cases.get(e.id), e), _case_fields),
        _section(
            list(places),
            new.protected_locations,
            lambda e: _differing(places.get(e.id), e),
            _location_fields,
        ),
    )


@dataclass(frozen=True)
class Canonical:
    """A register as ``canonical`` wrote it: per id, the validated entry as JSON."""

    cases: Mapping[str, str] = field(default_factory=dict)
    locations: Mapping[str, str] = field(default_factory=dict)


def canonical(register: Register) -> str:
    """``register`` -> text: per case and protected location, a line with its kind and
    id (JSON) and a line with the entry as validated JSON (which has no line break)."""
    lines: list[str] = []
    for kind, entries in (("case", register.cases), ("location", register.protected_locations)):
        for entry in entries:
            lines += (json.dumps([kind, entry.id]), entry.model_dump_json())
    return "\n".join(lines)


def read_canonical(text: str) -> Canonical:
    """The text ``canonical`` wrote -> the entries' JSON by kind and id."""
    out: dict[str, dict[str, str]] = {"case": {}, "location": {}}
    lines = text.split("\n") if text else []
    for head, body in zip(lines[::2], lines[1::2], strict=True):
        kind, ident = json.loads(head)
        out[kind][ident] = body
    return Canonical(out["case"], out["location"])


def diff_stored(stored: str | None, new: Register, form: str | None = None) -> RegisterDiff:
    """``new`` (whose ``canonical`` text is ``form``, if made already) against a stored
    version's ``canonical`` text (``None``: no register)."""
    old = None if stored is None else read_canonical(stored)
    return diff_canonical(old, new, None if form is None else read_canonical(form))


def diff_canonical(
    old: Canonical | None, new: Register, form: Canonical | None = None
) -> RegisterDiff:
    """Like ``diff_registers``, against a register's ``canonical`` form: an entry whose
    JSON is the same is the same; only the others are validated, to name their fields.
    ``form``: ``new``'s own canonical form, if made already."""
    old = old or Canonical()

    def differing(
        before: Mapping[str, str], mine: Mapping[str, str] | None, model: type[_Entry]
    ) -> Callable[[_Entry], _Entry | None]:
        def find(entry: _Entry) -> _Entry | None:
            was = before.get(entry.id)
            now = entry.model_dump_json() if mine is None else mine[entry.id]
            return None if was is None or was == now else model.model_validate_json(was)

        return find

    cases, places = (None, None) if form is None else (form.cases, form.locations)
    return RegisterDiff(
        _section(list(old.cases), new.cases, differing(old.cases, cases, Case), _case_fields),
        _section(
            list(old.locations),
            new.protected_locations,
            differing(old.locations, places, ProtectedLocation),
            _location_fields,
        ),
    )


def summary_lines(diff: RegisterDiff, limit: int | None = None) -> list[str]:
    """The diff as lines for a terminal: one per id (at most ``limit`` of each kind), then
    the totals.  Case ids and field names only."""
    lines: list[str] = []
    for prefix, section in (("", diff.cases), ("location ", diff.locations)):
        groups = (
            ("added", list(section.added)),
            ("removed", list(section.removed)),
            ("changed", [f"{c.id}: {', '.join(c.fields)}" for c in section.changed]),
        )
        for kind, entries in groups:
            shown = entries if limit is None else entries[:limit]
            lines += [f"  {prefix}{kind:<8} {entry}" for entry in shown]
            if len(shown) < len(entries):
                lines.append(f"  ... and {len(entries) - len(shown)} more {prefix}{kind}")
    lines.append(diff.cases.totals("cases"))
    lines.append(diff.locations.totals("protected locations"))
    return lines


def shrink_refusal(diff: RegisterDiff, max_share: float) -> str | None:
    """Why the change removes too much (more than ``max_share`` of the cases, or of the
    protected locations), in counts; ``None`` when it is within the limit."""
    for what, section in (("cases", diff.cases), ("protected locations", diff.locations)):
        if section.shrink > max_share:
            return (
                f"it would remove {len(section.removed)} of {section.before} {what} "
                f"({section.shrink:.0%}), more than register_max_shrink allows ({max_share:.0%})"
            )
    return None


def _section(
    before: list[str],
    new: Sequence[_Entry],
    differing: Callable[[_Entry], _Entry | None],
    fields: Callable[[_Entry, _Entry], tuple[str, ...]],
) -> SectionDiff:
    """``before``: the old ids; ``differing(entry)``: the old entry of that id when it
    is not the same as ``entry`` (else ``None``, also for a new id)."""
    known = set(before)
    after = {entry.id: entry for entry in new}
    changed = []
    for ident, entry in after.items():
        was = differing(entry) if ident in known else None
        if was is not None:
            names = fields(was, entry)
            if names:  # empty: the same in another order
                changed.append(Changed(ident, names))
    return SectionDiff(
        len(before),
        len(after),
        tuple(ident for ident in after if ident not in known),
        tuple(ident for ident in before if ident not in after),
        tuple(changed),
    )


def _differing(was: _Entry | None, entry: _Entry) -> _Entry | None:
    return None if was is None or was == entry else was


def _case_fields(old: Case, new: Case) -> tuple[str, ...]:
    out: list[str] = []
    for kind in PEOPLE:
        out += _people_fields(kind, getattr(old, kind), getattr(new, kind))
    if sorted(old.allowed_recipients) != sorted(new.allowed_recipients):
        out.append("allowed_recipients")
    compared = {"id", "allowed_recipients", *PEOPLE}
    out += [
        name  # the case's own fields (valid_from, valid_to, any added later)
        for name in Case.model_fields
        if name not in compared and getattr(old, name) != getattr(new, name)
    ]
    return tuple(out)


def _location_fields(old: ProtectedLocation, new: ProtectedLocation) -> tuple[str, ...]:
    return tuple(_model_fields(old, new, ""))


def _people_fields(kind: str, old: Sequence[BaseModel], new: Sequence[BaseModel]) -> list[str]:
    """People match first as wholes (wherever they stand in the list), then the rest in
    order, pairwise: ``protected[1].addresses`` (index in the new list); a person
    without a partner is counted: ``restricted (+1)``, ``protected (-2)``."""
    old_keys = [_key(person) for person in old]
    left = list(range(len(old)))  # indices of old people not matched yet
    unmatched_new: list[tuple[int, BaseModel]] = []
    for index, person in enumerate(new):
        key = _key(person)
        match = next((i for i in left if old_keys[i] == key), None)
        if match is None:
            unmatched_new.append((index, person))
        else:
            left.remove(match)
    rest_old = [old[i] for i in left]
    out: list[str] = []
    for (index, person), was in zip(unmatched_new, rest_old, strict=False):
        out += _model_fields(was, person, f"{kind}[{index}].")
    extra = len(unmatched_new) - len(rest_old)
    if extra:
        out.append(f"{kind} ({extra:+d})")
    return out


def _model_fields(old: BaseModel, new: BaseModel, prefix: str) -> list[str]:
    return [
        f"{prefix}{name}"
        for name in type(new).model_fields
        if _value(getattr(old, name)) != _value(getattr(new, name))
    ]


def _key(person: BaseModel) -> tuple[object, ...]:
    return tuple(_value(getattr(person, name)) for name in type(person).model_fields)


def _value(value: object) -> object:
    """Lists compare as sorted tuples (order carries no meaning in a register)."""
    if isinstance(value, list):
        return tuple(sorted(map(str, value)))
    return value
