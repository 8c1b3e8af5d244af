"""A case-management system's CSV export + its ``Mapping`` -> ``Register``.

The export has one row per person; rows are grouped into cases by their case id, in
the order the cases first appear.  Protected and child rows become protected people,
restricted rows restricted contacts (their own address and birthday protect no one and
are not read), allowed rows give the case's allowed recipients (their emails), and
ignore rows are skipped.

Every problem in the file is collected, each at its line and column, and raised
together as ``RegisterErrors``; no message repeats a cell's value.  The characters: a
byte-order mark says UTF-8 or UTF-16; otherwise the file is UTF-8 if it decodes as
UTF-8, else Windows-1252 (what older systems and Excel's plain "CSV" save); the
mapping's ``encoding`` overrides both.  The delimiter (comma, semicolon, tab or bar) is
the one that splits the header row into the most mapped column names: unlike
``csv.Sniffer``'s character counts, commas inside quoted addresses cannot fool it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError

from gateway.errors import RegisterError, RegisterErrors
from gateway.register import normalise
from gateway.register.mapping import Mapping, Role, fold
from gateway.register.model import Register, error_reason
from gateway.yamlsource import Loc

Place = tuple[int | None, int | None]  # line, column (1-based); None where unknown

# person fields in the model's order; a restricted contact has only some of them
_PERSON = ("name", "aliases", "date_of_birth", "addresses", "phones", "emails")
_RESTRICTED = frozenset(["name", "aliases", "emails", "phones"])
_LISTS = frozenset(["aliases", "addresses", "phones", "emails"])
_MAPPED = {"addresses": "address_lines"}  # register field -> mapping field, where they differ
_DELIMITERS = (",", ";", "\t", "|")
# A case id is printed in errors only when it looks like a case reference: in a row
# whose columns slipped, the id cell may hold a name.
_SHOWN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_.:#-]{0,63}")


class Export(NamedTuple):
    """A CSV export read: the register, and the place (line, column) of a register path."""

    register: Register
    place: Callable[[Loc], Place]


def parse_export(data: bytes, file: str, mapping: Mapping) -> Export:
    """The bytes of a CSV export -> ``Export``; ``RegisterErrors`` listing every problem."""
    text = _decode(data, file, mapping.encoding)
    delimiter = mapping.delimiter or _delimiter(text, mapping)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    collecting = gc.isenabled()
    gc.disable()  # as in load.parse_register: many new objects, none in a cycle
    try:
        records = _records(reader, file)
        _, header = next(records, (1, RegisterError(file, 1, "no header row: the file is empty")))
        if isinstance(header, RegisterError):
            raise header
        rows = _Rows(file, mapping, header)
        for line, cells in records:
            if isinstance(cells, RegisterError):
                rows.errors.append(cells)
            else:
                rows.add(line, cells)
        return Export(rows.register(), rows.place)
    finally:
        if collecting:
            gc.enable()


def _decode(data: bytes, file: str, encoding: str | None) -> str:
    if encoding is None and data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    tried = [encoding] if encoding else ["utf-8", "cp1252"]
    for name in tried:
        try:
            return data.decode(name)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
    names = " nor ".join("Windows-1252" if n == "cp1252" else n.upper() for n in tried)
    raise RegisterError(file, line, f"not {names} text (the mapping can set its encoding)")


def _delimiter(text: str, mapping: Mapping) -> str:
    """The delimiter that splits the first line into the most mapped column names."""
    first = text.split("\n", 1)[0]
    wanted = {fold(name) for names in mapping.columns.named().values() for name in names}

    def found(delimiter: str) -> int:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        return len(wanted & {fold(cell) for cell in cells})

    return max(_DELIMITERS, key=found)  # the first of equals: a comma


def _records(reader: Any, file: str) -> Iterator[tuple[int, list[str] | RegisterError]]:
    """(line where the record starts, its cells); a CSV syntax error ends the reading
    (after it nothing can be trusted to be in its column) and is yielded."""
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # the csv module's messages hold no cell values
            yield start, RegisterError(file, start, f"not readable as CSV from here: {exc}")
            return
        yield start, cells
        start = reader.line_num + 1


@dataclass(slots=True)
class _Row:
    """Where a person came from: the line, and the column (0-based) of each value."""

    line: int
    columns: dict[str, list[int]]


@dataclass(slots=True)
class _Case:
    """One case being built from its rows, and where each part came from."""

    id: str
    line: int
    people: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"protected": [], "restricted": []}
    )
    rows: dict[str, list[_Row]] = field(default_factory=lambda: {"protected": [], "restricted": []})
    allowed: list[str] = field(default_factory=list)
    allowed_at: list[tuple[int, int]] = field(default_factory=list)
    dates: dict[str, tuple[dt.date, int, int]] = field(default_factory=dict)  # day, line, column

    def valid_to_first(self) -> bool:
        """Whether the case ends before it starts."""
        ends = self.dates.get("valid_to")
        return ends is not None and ends[0] < self.dates["valid_from"][0]

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.people}
        if self.allowed:
            out["allowed_recipients"] = self.allowed
        out.update((name, value) for name, (value, _, _) in self.dates.items())
        return out


class _Rows:
    """The export's rows grouped into cases, with every error found on the way."""

    def __init__(self, file: str, mapping: Mapping, header: list[str]) -> None:
        self.file = file
        self.headers = [" ".join(cell.replace("\ufeff", "").split()) for cell in header]
        self.separator = mapping.separator
        self.roles = mapping.role_of()
        self.errors: list[RegisterError] = []
        self.cases: dict[str, _Case] = {}
        self.order: list[_Case] = []  # the cases by their index in the register
        index: dict[str, int] = {}
        for i, cell in enumerate(header):
            index.setdefault(fold(cell), i)
        self.columns: dict[str, list[int]] = {}
        missing = []
        for name, headers in mapping.columns.named().items():
            self.columns[name] = [index[fold(h)] for h in headers if fold(h) in index]
            missing += [f'"{h}" ({name})' for h in headers if fold(h) not in index]
        if missing:
            raise RegisterError(file, 1, f"the header has no column {', '.join(missing)}")
        self.case_column, self.role_column = self.columns["case_id"][0], self.columns["role"][0]
        self.columns["addresses"] = self.columns.get("address_lines", []) + self.columns.get(
            "postcode", []
        )
        # A 100,000-row export repeats its role values and many dates: each is read once.
        self.role_memo: dict[str, Role | None] = {}
        self.date_memo: dict[str, dt.date] = {}

    def add(self, line: int, cells: list[str]) -> None:
        """One row -> a person (or allowed recipient) of its case; errors noted."""
        if not "".join(cells).strip():
            return  # the blank rows spreadsheets leave at the end
        if len(cells) != len(self.headers):
            reason = f"{len(cells)} fields where the header has {len(self.headers)}"
            self._error(line, None, None, f"{reason} (a delimiter in an unquoted value?)")
            return
        ident = cells[self.case_column].strip()
        text = cells[self.role_column]
        role = self.role_memo.get(text) or self.role_memo.setdefault(
            text, self.roles.get(fold(text))
        )
        if not ident:
            self._error(line, self.case_column, None, "case_id: the case id is empty")
        if role is None:
            reason = "role: a value the mapping's roles do not name"
            self._error(line, self.role_column, ident, reason)
        if not ident or role is None or role == "ignore":
            return
        case = self.cases.get(ident)
        if case is None:
            case = self.cases[ident] = _Case(ident, line)
            self.order.append(case)
        self._dates(line, cells, case)
        if role == "allowed":
            self._allowed(line, cells, case)
            return
        kind = "restricted" if role == "restricted" else "protected"
        row = _Row(line, {})
        person: dict[str, Any] = {}
        for name in _PERSON if kind == "protected" else _RESTRICTED:
            values, row.columns[name] = self._values(line, cells, ident, name)
            if values:
                person[name] = values if name in _LISTS else values[0]
        case.people[kind].append(person)
        case.rows[kind].append(row)

    def _values(
        self, line: int, cells: list[str], ident: str, name: str
    ) -> tuple[list[Any], list[int]]:
        """The values of one register field in a row, and the column of each."""
        if name == "name":
            cols = [i for i in self.columns["name"] if cells[i].strip()]
            return ([" ".join(cells[i].strip() for i in cols)], cols[:1]) if cols else ([], [])
        if name == "addresses":
            parts = [(i, cells[i].strip()) for i in self.columns["addresses"] if cells[i].strip()]
            return ([", ".join(p for _, p in parts)], [parts[0][0]]) if parts else ([], [])
        if name in ("date_of_birth", "valid_from", "valid_to"):
            return self._date(line, cells, ident, name)
        values: list[str] = []
        where: list[int] = []
        for i in self.columns.get(name, ()):
            cell = cells[i]
            for part in cell.split(self.separator) if self.separator in cell else (cell,):
                if part.strip():
                    values.append(part.strip())
                    where.append(i)
        return values, where

    def _date(
        self, line: int, cells: list[str], ident: str, name: str
    ) -> tuple[list[dt.date], list[int]]:
        cols = self.columns.get(name, [])
        if not cols or not cells[cols[0]].strip():
            return [], []
        text = cells[cols[0]]
        try:
            day = self.date_memo.get(text) or self.date_memo.setdefault(text, uk_date(text))
            return [day], cols
        except ValueError as exc:
            self._error(line, cols[0], ident, f"{name}: {exc}")
            return [], []

    def _dates(self, line: int, cells: list[str], case: _Case) -> None:
        """A case's valid_from and valid_to: from any of its rows, the same in each."""
        for name in ("valid_from", "valid_to"):
            values, where = self._date(line, cells, case.id, name)
            if not values:
                continue
            first = case.dates.setdefault(name, (values[0], line, where[0]))
            if first[0] != values[0]:
                reason = f"{name}: differs from the case's row at line {first[1]}"
                self._error(line, where[0], case.id, reason)

    def _allowed(self, line: int, cells: list[str], case: _Case) -> None:
        values, where = self._values(line, cells, case.id, "emails")
        if not values:
            column = next(iter(self.columns.get("emails", [])), None)
            self._error(line, column, case.id, "emails: an allowed recipient needs an email")
        case.allowed += values
        case.allowed_at += [(line, at) for at in where]

    def _error(self, line: int, column: int | None, ident: str | None, reason: str) -> None:
        """Note ``case ID: field (column "Header"): what``, at line and column (0-based)."""
        where = f"case {ident}: " if ident and _SHOWN_ID.fullmatch(ident) else ""
        if column is not None:
            reason = reason.replace(": ", f' (column "{self.headers[column]}"): ', 1)
        at = None if column is None else column + 1
        self.errors.append(RegisterError(self.file, line, where + reason, column=at))

    def register(self) -> Register:
        """The register of all rows; ``RegisterErrors`` with every problem found."""
        for case in self.order:  # here, as the model checks it only in an otherwise valid case
            if "valid_from" in case.dates and case.valid_to_first():
                line, column = case.dates["valid_to"][1:]
                self._error(line, column, case.id, "valid_to: before valid_from")
        data = {"version": 1, "cases": [case.data() for case in self.order]}
        try:
            register = Register.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self._model_error(error)
        if self.errors:
            self.errors.sort(key=lambda e: (e.line or 0, e.column or 0))
            raise RegisterErrors(self.errors)
        return register

    def _model_error(self, error: Any) -> None:
        loc: Loc = tuple(error["loc"])
        case = self.order[loc[1]] if len(loc) > 1 and isinstance(loc[1], int) else None
        name = next((str(p) for p in reversed(loc) if isinstance(p, str) and p != "cases"), "")
        message = error_reason(error)
        if name == "protected" and error.get("type") == "too_short":
            message = "no row of the case has a role the mapping calls protected or child"
        if "valid_to is before" in message:
            return  # noted by ``register``
        line, column = self._place(loc)
        self._error(line or 1, column, case.id if case else None, f"{name}: {message}")

    def place(self, loc: Loc) -> Place:
        """The line and column (1-based) where the value at ``loc`` in the register came from."""
        line, column = self._place(loc)
        return line, None if column is None else column + 1

    def _place(self, loc: Loc) -> Place:
        if len(loc) < 2 or loc[0] != "cases" or not isinstance(loc[1], int):
            return None, None
        case = self.order[loc[1]]
        head, rest = str(loc[2]) if len(loc) > 2 else "id", loc[3:]
        if head in case.rows and rest and isinstance(rest[0], int):
            return self._person_place(case.rows[head][rest[0]], rest[1:])
        if head == "allowed_recipients" and rest and isinstance(rest[0], int):
            return case.allowed_at[rest[0]]
        if head in case.dates:
            return case.dates[head][1:]
        return case.line, self.role_column if head in case.rows else self.case_column

    def _person_place(self, row: _Row, rest: Loc) -> Place:
        if not rest:
            return row.line, None
        name = str(rest[0])
        cols = row.columns.get(name) or self.columns.get(_MAPPED.get(name, name))
        at = rest[1] if len(rest) > 1 and isinstance(rest[1], int) else 0
        return row.line, (cols[min(at, len(cols) - 1)] if cols else None)


_TIME_OF_DAY = re.compile(r"(?<=\d)(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$")
_NUMERIC_DATE = re.compile(r"(\d{1,4})([-/.])(\d{1,2})\2(\d{2}|\d{4})")


def uk_date(text: str) -> dt.date:
    """``31/01/2025``, ``1/2/25``, ``31.01.2025``, ``2025-01-31``, ``31 Jan 2025`` (a
    time of day after it, as spreadsheets add, is dropped) -> a date; ``ValueError``
    otherwise, with a reason that does not repeat the text (it may be a birthday).
    Numbers are read day first; a month past 12 is an error, never a swap."""
    value = _TIME_OF_DAY.sub("", text.strip(), count=1)
    match = _NUMERIC_DATE.fullmatch(value)
    if match is None:
        parsed = normalise.parse_date(value)  # a month in words, or year first with "/"
        if parsed is None:
            raise ValueError("not a date (write day/month/year, or year-month-day)")
        return parsed
    first, _, month, last = match.groups()
    if len(first) == 4:
        day = normalise.date_from_groups("ymd", (first, month, last))
    elif len(first) <= 2 and int(month) > 12 >= int(first):
        raise ValueError("month past 12: dates are read day first (UK order), not month first")
    else:
        day = normalise.date_from_groups("dmy", (first, month, last)) if len(first) <= 2 else None
    if day is None:
        raise ValueError("not a real date")
    return day
