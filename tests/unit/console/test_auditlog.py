"""The audit page's filter fields and its CSV export, without a server."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from starlette.datastructures import QueryParams

from gateway.console.auditlog import describe, filter_query, parse_filter, safe_cell, to_csv
from gateway.review.audit import AuditFilter
from gateway.review.model import AuditRecord


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_quoted(start: str) -> None:
    """A cell starting as a formula gets a leading apostrophe."""
    assert f"'{start}1+1" == safe_cell(f"{start}1+1")


def test_an_ordinary_cell_is_unchanged() -> None:
    """Text, ids and times pass as they are."""
    assert ["user:rita", "Q1", "a=b"] == [safe_cell(c) for c in ("user:rita", "Q1", "a=b")]


def test_the_csv_has_its_columns_iso_times_and_no_formula() -> None:
    """Header, then one row per record: at in ISO 8601 UTC, formulas neutralised."""
    at = dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    record = AuditRecord(7, at, "user:rita", "reject", "Q1", '=HYPERLINK("x")')
    rows = list(csv.reader(io.StringIO(to_csv([record]))))
    assert ["seq", "at", "actor", "action", "target", "reason"] == rows[0]
    expected = ["7", "2026-12-06T14:00:00+00:00", "user:rita", "reject", "Q1"]
    assert [*expected, '\'=HYPERLINK("x")'] == rows[1]


def test_the_filter_reads_from_the_query_and_back() -> None:
    """Fields are trimmed, a bad date is dropped, empty fields leave the links."""
    query = QueryParams("actor=+user:rob+&action=view&from=2026-12-01&to=not-a-date&target=")
    where = parse_filter(query)
    assert AuditFilter("user:rob", "view", "", dt.date(2026, 12, 1), None) == where
    assert {"actor": "user:rob", "action": "view", "from": "2026-12-01"} == filter_query(where)
    assert "filter actor=user:rob action=view from=2026-12-01" == describe(where)
    assert "all records" == describe(AuditFilter())
