"""CSV exports of case-management systems: read with a mapping, rows grouped into cases,
dates in UK order, every bad row reported at its line and column without its values."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import RegisterError, RegisterErrors
from gateway.register import load_register, parse_register
from gateway.register.load import read_register_file
from gateway.register.tabular import uk_date

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_CSV = ROOT / "examples" / "case-export.csv"
EXAMPLE_MAP = ROOT / "examples" / "case-export-mapping.yaml"
CONTRACT = ROOT.parent / "shared" / "contracts" / "register.example.yaml"
HEADER = EXAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0]

MAPPING: dict[str, Any] = {
    "columns": {
        "case_id": "Case",
        "role": "Role",
        "name": ["First", "Last"],
        "aliases": "AKA",
        "address_lines": ["Line 1", "Line 2", "Town"],
        "postcode": "Postcode",
        "phones": "Phone",
        "emails": "Email",
        "date_of_birth": "DOB",
        "valid_from": "From",
        "valid_to": "To",
    },
    "roles": {
        "Victim": "protected",
        "Child": "child",
        "Perpetrator": "restricted",
        "Worker": "allowed",
        "Referrer": "ignore",
    },
}
COLUMNS = ["Case", "Role", "First", "Last", "AKA", "Line 1", "Line 2", "Town", "Postcode"]
COLUMNS += ["Phone", "Email", "DOB", "From", "To"]


def _read(
    tmp_path: Path,
    rows: tuple[dict[str, str], ...] | list[dict[str, str]] = (),
    mapping: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> Any:
    """Write ``rows`` (or ``data``) as export.csv and a mapping, and read them."""
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(mapping or MAPPING))
    if data is None:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
        data = out.getvalue().encode()
    (tmp_path / "export.csv").write_bytes(data)
    return read_register_file(tmp_path / "export.csv", mapping=tmp_path / "map.yaml")


def _errors(tmp_path: Path, **kwargs: Any) -> list[RegisterError]:
    with pytest.raises(RegisterErrors) as caught:
        _read(tmp_path, **kwargs)
    return caught.value.errors


VICTIM = {"Case": "C-1", "Role": "Victim", "First": "Sarah", "Last": "Whitmore"}
PERP = {"Case": "C-1", "Role": "Perpetrator", "First": "Mark", "Last": "Whitmore"}


def test_the_example_export_is_the_contract_register() -> None:
    """examples/case-export.csv with its mapping gives the contract example's cases."""
    source = read_register_file(EXAMPLE_CSV, fmt="csv", mapping=EXAMPLE_MAP)
    cases = [
        c.model_copy(update={"valid_from": None, "valid_to": None}) for c in source.register.cases
    ]
    assert load_register(CONTRACT).cases == cases
    assert dt.date(2025, 2, 3) == source.register.cases[0].valid_from


def test_a_csv_register_is_kept_as_json_that_loads_to_the_same_register() -> None:
    """The text the store keeps for a CSV export is JSON of exactly that register."""
    source = read_register_file(EXAMPLE_CSV, mapping=EXAMPLE_MAP)
    assert "json" == source.format
    assert source.register == parse_register(source.text, "stored.json")


BAD_ROWS = [
    # line 2: a US-order date (month 17)
    "DA-1,Victim,Sarah,Whitmore,,1 Kingfisher Road,,Leeds,LS6 3QT,,,,04/17/1988,,",
    "DA-1,Perpetrator,Mark,Whitmore,,,,,,,,mark.whitmore@example.com,,,",
    # line 4: a role the mapping does not name
    "DA-2,Neighbour,Ann,Lee,,,,,,,,ann.lee@example.com,,,",
    # line 5: an email that is not one
    "DA-3,Victim,Priya,Raman,,,,,,,,priya.raman.example.net,,,",
    # line 6: no case id
    ",Victim,Zoe,Hart,,,,,,07700 900461,,,,,",
    "DA-4,Victim,Olu,Ade,,2 Mill Lane,,York,YO1 7HH,,,,,,",
    # line 8: one field too many (an unquoted comma in an address)
    "DA-4,Child,Tom,Ade,,3 Mill Lane, Flat 2,,York,YO1 7HH,,,,,,",
]


def test_an_export_with_five_bad_rows_reports_all_five_at_their_lines_and_columns(
    tmp_path: Path,
) -> None:
    """Five bad rows are five errors, each with line, column (where one is to blame) and
    case id, and none repeats a value of the file."""
    text = "\n".join([HEADER, *BAD_ROWS]) + "\n"
    errors = _errors(tmp_path, data=text.encode(), mapping=yaml.safe_load(EXAMPLE_MAP.read_text()))
    assert [(2, 13), (4, 2), (5, 12), (6, 1), (8, None)] == [(e.line, e.column) for e in errors]
    assert ["DA-1", "DA-2", "DA-3", None, None] == [
        next((c for c in ("DA-1", "DA-2", "DA-3") if f"case {c}:" in str(e)), None) for e in errors
    ]
    assert 'date_of_birth (column "Date of Birth"): month past 12' in str(errors[0])
    shown = "\n".join(map(str, errors))
    for value in ("04/17", "1988", "Neighbour", "priya", "Raman", "Zoe", "Hart", "07700", "Mill"):
        assert value not in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31/01/2025", dt.date(2025, 1, 31)),
        ("1/2/2025", dt.date(2025, 2, 1)),
        ("01/02/88", dt.date(1988, 2, 1)),
        ("31.01.2025", dt.date(2025, 1, 31)),
        ("31-01-2025", dt.date(2025, 1, 31)),
        ("2025-01-31", dt.date(2025, 1, 31)),
        ("31/01/2025 00:00", dt.date(2025, 1, 31)),
        ("2025-01-31T00:00:00", dt.date(2025, 1, 31)),
        ("31 Jan 2025", dt.date(2025, 1, 31)),
        ("04/05/2025", dt.date(2025, 5, 4)),
    ],
)
def test_dates_are_read_in_uk_order(text: str, expected: dt.date) -> None:
    """Numeric dates are day first; ISO dates and worded months are read as written."""
    assert expected == uk_date(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12/31/2025", "month past 12"),
        ("31/02/2025", "not a real date"),
        ("2025-13-01", "not a real date"),
        ("next week", "not a date"),
        ("31/01", "not a date"),
    ],
)
def test_a_date_that_cannot_be_uk_order_is_an_error_not_a_swap(text: str, reason: str) -> None:
    """A month-first date is refused (never silently swapped), without repeating it."""
    with pytest.raises(ValueError, match=reason) as caught:
        uk_date(text)
    assert text not in str(caught.value)
    assert "2025" not in str(caught.value)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_semicolon_tab_and_bar_exports_are_recognised_by_their_header(
    tmp_path: Path, delimiter: str
) -> None:
    """The delimiter is the one that splits the header into the mapped columns, whatever
    commas the quoted addresses hold."""
    lines = [
        delimiter.join(COLUMNS),
        delimiter.join(
            [
                "C-1",
                "Victim",
                "Sarah",
                "Whitmore",
                "",
                '"Flat 3, 27 Kingfisher Road"',
                "",
                "Leeds",
                "LS6 3QT",
                "",
                "",
                "",
                "",
                "",
            ]
        ),
    ]
    source = _read(tmp_path, [], data=("\r\n".join(lines) + "\r\n").encode())
    address = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"
    assert [address] == source.register.cases[0].protected[0].addresses


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.encode("cp1252"),
        lambda text: text.encode("utf-16"),
    ],
    ids=["utf-8 with BOM", "windows-1252", "utf-16 with BOM"],
)
def test_bom_and_windows_1252_exports_are_decoded(tmp_path: Path, encode: Any) -> None:
    """A BOM says UTF-8 or UTF-16; bytes that are not UTF-8 are read as Windows-1252."""
    text = ",".join(COLUMNS) + "\nC-1,Victim,Zoë,Siân O\u2019Neill,,,,,,,,,,\n"
    source = _read(tmp_path, [], data=encode(text))
    assert "Zoë Siân O\u2019Neill" == source.register.cases[0].protected[0].name


def test_bytes_that_are_no_known_encoding_are_an_error_at_their_line(tmp_path: Path) -> None:
    """Bytes Windows-1252 leaves undefined fail with the line, not as mojibake."""
    data = (",".join(COLUMNS) + "\nC-1,Victim,Ann,Lee,,,,,,,,,,,\nC-2,Victim,A\x81n,Lee\n").encode(
        "latin-1"
    )
    with pytest.raises(RegisterError, match=r"export.csv:3: not UTF-8 nor Windows-1252 text"):
        _read(tmp_path, [], data=data)


def test_rows_are_grouped_into_cases_in_order_of_first_appearance(tmp_path: Path) -> None:
    """Interleaved rows make one case per id; people keep their order; allowed rows give
    allowed recipients; ignored rows are skipped."""
    rows = [
        VICTIM,
        {"Case": "C-2", "Role": "Victim", "First": "Priya", "Last": "Raman"},
        PERP,
        {"Case": "C-1", "Role": "child", "First": "Oliver", "Last": "Whitmore"},
        {"Case": "C-1", "Role": " WORKER ", "First": "Jo", "Email": "jo@council.example.gov.uk"},
        {"Case": "C-3", "Role": "Referrer", "First": "Anne", "Last": "Hall"},
    ]
    register = _read(tmp_path, rows).register
    assert ["C-1", "C-2"] == [c.id for c in register.cases]
    first = register.cases[0]
    assert ["Sarah Whitmore", "Oliver Whitmore"] == [p.name for p in first.protected]
    assert ["Mark Whitmore"] == [r.name for r in first.restricted]
    assert ["jo@council.example.gov.uk"] == first.allowed_recipients


def test_several_values_in_a_cell_and_several_columns_are_each_read(tmp_path: Path) -> None:
    """Aliases, phones and emails split at the separator, and come from every column."""
    columns = {**MAPPING["columns"], "aliases": ["AKA", "Town"], "address_lines": ["Line 1"]}
    mapping = {**MAPPING, "columns": columns}
    row = {**VICTIM, "AKA": "Sarah Davies; S. Jones", "Town": "Sally Whitmore"}
    row |= {"Phone": "07700 900461;0113 496 0000", "Email": "a@example.net ;b@example.net"}
    person = _read(tmp_path, [row, PERP], mapping=mapping).register.cases[0].protected[0]
    assert ["Sarah Davies", "S. Jones", "Sally Whitmore"] == person.aliases
    assert ["07700 900461", "0113 496 0000"] == person.phones
    assert ["a@example.net", "b@example.net"] == person.emails
    assert [] == person.addresses


def test_a_restricted_contacts_own_address_and_birthday_are_not_read(tmp_path: Path) -> None:
    """The perpetrator's address columns protect no one and are not an error."""
    row = {**PERP, "Line 1": "9 Quarry Lane", "Postcode": "BD5 0AA", "DOB": "13/13/1979"}
    contact = _read(tmp_path, [VICTIM, row]).register.cases[0].restricted[0]
    assert "Mark Whitmore" == contact.name


def test_a_missing_mapped_column_names_the_column_and_the_field(tmp_path: Path) -> None:
    """An export without a column the mapping names fails at line 1, naming both."""
    data = b"Case,Role,First,Last\nC-1,Victim,Ann,Lee\n"
    with pytest.raises(RegisterError) as caught:
        _read(tmp_path, [], data=data)
    message = str(caught.value)
    assert message.startswith(
        f'{tmp_path / "export.csv"}:1: the header has no column "AKA" (aliases)'
    )
    assert '"To" (valid_to)' in message


def test_column_names_and_role_values_match_whatever_their_case(tmp_path: Path) -> None:
    """``case id`` in the mapping finds ``CASE  ID`` in the export."""
    columns = {"case_id": "case id", "role": "ROLE", "name": "full name"}
    mapping = {"columns": columns, "roles": {"victim": "protected"}}
    data = b"CASE  ID,Role,Full Name\nC-1,VICTIM,Ann Lee\n"
    assert (
        "Ann Lee"
        == _read(tmp_path, [], mapping=mapping, data=data).register.cases[0].protected[0].name
    )


def test_a_bad_mapping_is_reported_at_its_lines(tmp_path: Path) -> None:
    """Every mistake in the mapping file is reported with its line."""
    (tmp_path / "map.yaml").write_text(
        "columns:\n  case_id: Case\n  role: Role\n  name: Name\n  adress_lines: [A]\n"
        "roles:\n  Victim: victim\n"
    )
    (tmp_path / "export.csv").write_text("Case,Role,Name\n")
    with pytest.raises(RegisterErrors) as caught:
        read_register_file(tmp_path / "export.csv", mapping=tmp_path / "map.yaml")
    assert [5, 7] == [e.line for e in caught.value.errors]
    assert "columns.adress_lines: unknown field" in str(caught.value)


def test_an_unclosed_quote_is_an_error_and_the_errors_before_it_are_kept(tmp_path: Path) -> None:
    """A quote left open would swallow every row after it: it is an error at its row."""
    text = (
        ",".join(COLUMNS) + "\nC-1,Victim,Ann,Lee,,,,,,,,bad-email,,,\n"
        'C-2,Victim,Bob,"Smith,,,,,,,,,,,\nC-3,Victim,Cy,Day,,,,,,,,,,,\n'
    )
    errors = _errors(tmp_path, data=text.encode())
    assert [2, 3] == [e.line for e in errors]
    assert "not readable as CSV from here" in str(errors[1])


def test_case_dates_must_agree_between_rows_and_be_in_order(tmp_path: Path) -> None:
    """valid_from and valid_to are the case's: a row that differs, or an end before the
    start, is an error at the cell."""
    rows = [
        {**VICTIM, "From": "01/02/2025", "To": "31/01/2025"},
        {**PERP, "From": "02/02/2025"},
    ]
    errors = _errors(tmp_path, rows=rows)
    assert [(2, 14), (3, 13)] == [(e.line, e.column) for e in errors]
    assert "valid_to" in str(errors[0])
    assert "differs from the case's row at line 2" in str(errors[1])


def test_a_case_without_protected_rows_and_an_allowed_row_without_email_are_errors(
    tmp_path: Path,
) -> None:
    """A case of restricted contacts only, and an allowed recipient with no email, fail."""
    rows = [{**PERP, "Case": "C-9"}, {**VICTIM, "Role": "Worker"}, VICTIM]
    errors = _errors(tmp_path, rows=rows)
    assert [(2, 2), (3, 11)] == [(e.line, e.column) for e in errors]
    assert "case C-9: protected" in str(errors[0])


def test_a_case_id_that_does_not_look_like_one_is_not_printed(tmp_path: Path) -> None:
    """In a row whose columns slipped the id cell may hold a name: it is not echoed."""
    errors = _errors(tmp_path, rows=[{**VICTIM, "Case": "Sarah Whitmore", "Email": "x"}])
    assert "Sarah" not in str(errors[0])
    assert (2, 11) == (errors[0].line, errors[0].column)


# --- the same register, as YAML and as any CSV export of it --------------------------

FIRST = ["Sarah Jane", "Zoë", "Siân", "Priya", "Olu", "Mark"]
LAST = ["Whitmore", "O'Neill", "Smith-Jones", "Raman", "Ng"]
LINES = ["Flat 3", "27 Kingfisher Road", 'The "Willows", Mill Lane', "Leeds", "York"]
POSTCODES = ["LS6 3QT", "S1 2AB", "YO1 7HH", "BD5 0AA"]
PHONES = ["07700 900461", "+44 7700 900999", "0113 496 0000", "020 7946 0018"]
DATES = st.dates(dt.date(1930, 1, 1), dt.date(2030, 12, 31))
PIVOT = dt.date.today().year % 100
ALLOWED = ["jo@council.example.gov.uk", "x@law.example"]


def _date_forms(day: dt.date) -> list[str]:
    forms = [
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        f"{day.day}/{day.month}/{day.year}",
        day.strftime("%d.%m.%Y"),
        day.strftime("%d/%m/%Y 00:00"),
    ]
    short = day.year % 100
    if (2000 + short if short <= PIVOT else 1900 + short) == day.year:  # as normalise reads it
        forms.append(f"{day.day}/{day.month}/{day.strftime('%y')}")
    return forms


@st.composite
def _people(draw: Any, kind: str) -> dict[str, Any]:
    emails = draw(st.lists(st.sampled_from(["a", "b.c", "d+e"]), max_size=2, unique=True))
    person: dict[str, Any] = {
        "first": draw(st.sampled_from(FIRST)),
        "last": draw(st.sampled_from(LAST)),
        "aliases": draw(st.lists(st.sampled_from(["Sarah Davies", "S Jones"]), max_size=2)),
        "phones": draw(st.lists(st.sampled_from(PHONES), max_size=2)),
        "emails": [f"{local}.{kind}@example.net" for local in emails],
    }
    if kind == "protected":
        person["lines"] = draw(st.lists(st.sampled_from(LINES), max_size=3))
        person["postcode"] = draw(st.sampled_from(["", *POSTCODES]))
        person["dob"] = draw(st.none() | DATES)
    return person


@st.composite
def _cases(draw: Any) -> list[dict[str, Any]]:
    out = []
    for n in range(draw(st.integers(1, 3))):
        dates = sorted(draw(st.lists(DATES, min_size=2, max_size=2)))
        out.append(
            {
                "id": f"C-{n}",
                "protected": draw(st.lists(_people("protected"), min_size=1, max_size=2)),
                "restricted": draw(st.lists(_people("restricted"), max_size=2)),
                "allowed": draw(st.lists(st.sampled_from(ALLOWED), max_size=2)),
                "valid": draw(st.sampled_from([None, dates])),
            }
        )
    return out


def _yaml_case(case: dict[str, Any]) -> dict[str, Any]:
    """A generated case as the register file would write it."""

    def person(p: dict[str, Any], protected: bool) -> dict[str, Any]:
        out = {
            "name": f"{p['first']} {p['last']}",
            "aliases": p["aliases"],
            "phones": p["phones"],
            "emails": p["emails"],
        }
        if protected:
            address = ", ".join([*p["lines"], p["postcode"]] if p["postcode"] else p["lines"])
            out["addresses"] = [address] if address else []
            out["date_of_birth"] = p["dob"]
        return out

    out = {
        "id": case["id"],
        "protected": [person(p, True) for p in case["protected"]],
        "restricted": [person(p, False) for p in case["restricted"]],
        "allowed_recipients": case["allowed"],
    }
    if case["valid"]:
        out["valid_from"], out["valid_to"] = case["valid"]
    return out


def _rows(draw: Any, case: dict[str, Any], aka: list[str], sep: str) -> list[dict[str, str]]:
    """The case's rows, kinds interleaved at random (people of a kind keep their order)."""
    queues = {
        "Victim": list(case["protected"]),
        "Perpetrator": list(case["restricted"]),
        "Worker": [{"emails": [e]} for e in case["allowed"]],
    }
    kinds = [k for k, q in queues.items() for _ in q]
    dated = draw(st.booleans())  # the case's dates on every row, or on its first only
    rows = []
    for kind in draw(st.permutations(kinds)):
        p = queues[kind].pop(0)
        row = {
            "Case": case["id"],
            "Role": draw(st.sampled_from([kind, kind.upper()])),
            "First": p.get("first", "Jo"),
            "Last": p.get("last", ""),
            "Phone": sep.join(p.get("phones", [])),
            "Email": sep.join(p["emails"]),
        }
        aliases = p.get("aliases", [])
        if len(aka) == 1:
            row[aka[0]] = sep.join(aliases)
        else:
            row.update(zip(aka, aliases, strict=False))
        lines = p.get("lines", [])
        row.update(zip(["Line 1", "Line 2", "Town"], lines, strict=False))
        row["Postcode"] = p.get("postcode", "")
        if p.get("dob"):
            row["DOB"] = draw(st.sampled_from(_date_forms(p["dob"])))
        if case["valid"] and (dated or not rows):
            row["From"], row["To"] = (draw(st.sampled_from(_date_forms(d))) for d in case["valid"])
        rows.append(row)
    return rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases=_cases(), data=st.data())
def test_any_csv_export_of_a_register_reads_as_its_yaml(
    tmp_path: Path, cases: list[dict[str, Any]], data: Any
) -> None:
    """Column order, delimiter, quoting, BOM, encoding, line ends, alias columns and date
    forms do not change the register a CSV export gives: the same as the YAML file."""
    draw = data.draw
    (tmp_path / "r.yaml").write_text(
        yaml.safe_dump({"version": 1, "cases": [_yaml_case(c) for c in cases]}, allow_unicode=True)
    )
    aka = draw(st.sampled_from([["AKA"], ["AKA 1", "AKA 2"]]))
    sep = draw(st.sampled_from([";", "|", "/"]))
    header = [c for c in COLUMNS if c != "AKA"] + aka
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        draw(st.permutations(header)),
        restval="",
        delimiter=draw(st.sampled_from([",", ";", "\t"])),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\r\n", "\n"])),
    )
    writer.writeheader()
    for case in cases:
        writer.writerows(_rows(draw, case, aka, sep))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    mapping = {**MAPPING, "separator": sep, "columns": {**MAPPING["columns"], "aliases": aka}}
    source = _read(tmp_path, [], mapping=mapping, data=out.getvalue().encode(encoding))
    assert load_register(tmp_path / "r.yaml") == source.register
