"""The list page's pure parts: the search from a query string, page cursors, restricted
recipients marked, rules in words."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.console.worklist import (
    decode_cursor,
    encode_cursor,
    marked_recipients,
    query_from,
    rules_in_words,
)
from gateway.errors import ConfigError
from gateway.policy import default_policy_dir, load_policy
from gateway.store import HeldSummary
from gateway.store.model import ListedMessage


def test_a_cursor_goes_through_a_link_and_a_damaged_one_is_refused() -> None:
    """A cursor comes back as it went out; anything else is a ConfigError, not a crash."""
    assert (2, "Q01") == decode_cursor(encode_cursor((2, "Q01")))
    for damaged in ("%%%", "bm90IGpzb24", encode_cursor(([1], "Q")).replace("W", "X")):
        with pytest.raises(ConfigError):
            decode_cursor(damaged)


def test_the_query_string_is_read_into_a_search() -> None:
    """Dates are whole days (the 'to' day included); unknown sorts and sizes fall back."""
    query = query_from(
        {"status": "all", "from": "2025-05-01", "to": "2025-05-02", "sort": "nope", "size": "7"}
    )
    assert query.status is None
    assert dt.datetime(2025, 5, 1, tzinfo=dt.UTC) == query.received_from
    assert dt.datetime(2025, 5, 3, tzinfo=dt.UTC) == query.received_to
    assert ("severity", 50) == (query.sort, query.limit)
    with pytest.raises(ConfigError, match="'to' must be a date"):
        query_from({"to": "yesterday"})


def test_restricted_recipients_are_marked_with_their_case() -> None:
    """The recipient a restricted-recipient finding's evidence names gets its case."""
    summary = HeldSummary(
        id="Q1",
        received_at=dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
        status="held",
        action="quarantine",
        severity="critical",
        rules=(),
        findings=({"kind": "restricted_recipient", "case": "DA-1"}, {"kind": "address"}),
        size=1,
        rcpt_count=2,
    )
    item = ListedMessage(
        summary,
        "a@b.example",
        ("Mark@Example.com", "other@example.com"),
        "s",
        [{"finding": 0, "text": "mark@example.com"}, {"finding": 1, "text": "x"}],
        ("", "Q1"),
    )
    assert (("Mark@Example.com", "DA-1"), ("other@example.com", "")) == marked_recipients(item)


def test_rules_are_shown_in_the_policys_words_or_by_id() -> None:
    """A rule of the policy reads as its description; an unknown one as its id."""
    policy = load_policy(default_policy_dir())
    (known, words), (unknown, same) = rules_in_words(
        policy, ("restricted-recipient-protected-data", "gone-rule")
    )
    assert words.startswith("A restricted contact")
    assert (unknown, same) == ("gone-rule", "gone-rule")
    assert ("gone-rule", "gone-rule") == rules_in_words(None, ["gone-rule"])[0]
    assert known == "restricted-recipient-protected-data"
