"""The gateway's stamp header and the loop counts read back from a header block."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.stamp import Hops, Stamp

STAMP = Stamp("X-Safe-Address-Gateway", "gateway.council.test", max_stamps=3, hop_count_limit=50)
BODY = b"From: a@council.test\r\nSubject: hello\r\n\r\nBody text.\r\n"
WHEN = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)


def ours(verb: str = "scanned", host: str = "gateway.council.test", name: str = "") -> bytes:
    header = name or STAMP.header
    return f"{header}: {verb} by {host}; id=0123abcd; Sat, 05 Dec 2026 14:00:00 +0000\r\n".encode()


def test_the_stamp_line_names_the_gateway_the_id_and_the_time() -> None:
    """One CRLF-terminated line: ``scanned by HOST; id=ID; RFC 5322 date``."""
    expected = (
        b"X-Safe-Address-Gateway: scanned by gateway.council.test; id=0123abcd;"
        b" Sat, 05 Dec 2026 14:00:00 +0000\r\n"
    )
    assert expected == STAMP.line("scanned", "0123abcd", WHEN)
    assert STAMP.value("released", "0123abcd", WHEN).startswith("released by gateway.council.test;")


def test_a_stamped_message_parses_with_one_stamp_a_mail_reader_sees() -> None:
    """The stamp is a well-formed header: the email package reads it back as written."""
    message = email.message_from_bytes(
        STAMP.line("scanned", "0123abcd", WHEN) + BODY, policy=email.policy.default
    )
    assert [STAMP.value("scanned", "0123abcd", WHEN)] == message.get_all(STAMP.header)
    assert 0 == len(message.defects)


def test_a_message_stamped_by_the_gateway_itself_counts_its_own_stamp() -> None:
    """What the gateway puts on is what it counts: a stamped message reads as one pass."""
    assert Hops(1, 0) == STAMP.hops(STAMP.line("scanned", "x") + BODY)
    assert Hops(2, 0) == STAMP.hops(STAMP.line("released", "y") + STAMP.line("scanned", "x") + BODY)


def test_received_headers_are_counted_and_the_body_is_not_read() -> None:
    """Received headers of the header block count; a stamp or Received in the body does not."""
    header_block = b"Received: from a by b; Sat, 05 Dec 2026 14:00:00 +0000\r\n" * 2
    body = ours() * 5 + b"Received: from x by y\r\n"
    assert Hops(0, 2) == STAMP.hops(header_block + b"Subject: x\r\n\r\n" + body)
    assert Hops(0, 0) == STAMP.hops(b"\r\n" + ours())


def test_the_limits_are_reached_at_max_stamps_and_at_the_hop_count_limit() -> None:
    """``max_stamps`` of ours, or ``hop_count_limit`` Received headers: a loop."""
    assert not STAMP.looped(Hops(2, 49))
    assert STAMP.looped(Hops(3, 0))
    assert STAMP.looped(Hops(0, 50))


_CASES = st.sampled_from(["lower", "upper", "title", "as is"])


def _cased(text: str, case: str) -> str:
    return {"lower": text.lower(), "upper": text.upper(), "title": text.title()}.get(case, text)


@settings(deadline=None)  # a loaded CI box
@given(
    name_case=_CASES,
    host_case=_CASES,
    verb=st.sampled_from(["scanned", "released", "Scanned", "RELEASED"]),
    fold=st.sampled_from([" ", "\r\n ", "\r\n\t", "\n\t", "  \r\n   "]),
    line_end=st.sampled_from(["\r\n", "\n"]),
    trailing_dot=st.booleans(),
)
def test_a_stamp_counts_in_any_case_folded_or_not(
    name_case: str, host_case: str, verb: str, fold: str, line_end: str, trailing_dot: bool
) -> None:
    """The header name and the hostname in any case, the value folded anywhere between
    words, LF or CRLF, the host with a root dot: it is still this gateway's stamp."""
    name = _cased(STAMP.header, name_case)
    host = _cased(STAMP.hostname, host_case) + ("." if trailing_dot else "")
    stamp = f"{name}:{fold}{verb}{fold}by{fold}{host};{fold}id=0123; Sat, 05 Dec 2026{line_end}"
    message = (stamp + f"Subject: x{line_end}{line_end}body{line_end}").encode()
    assert 1 == STAMP.hops(message).stamps


@settings(deadline=None)  # a loaded CI box
@given(
    host=st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,3}", fullmatch=True),
    other_header=st.sampled_from(["X-Safe-Address-Gateway2", "X-Other-Gateway", "Received"]),
)
def test_stamps_by_other_hosts_or_in_other_headers_do_not_count(
    host: str, other_header: str
) -> None:
    """Another gateway's stamp, or our words in another header, is not ours."""
    message = ours(host=host + ".other") + ours(name=other_header) + BODY
    assert 0 == STAMP.hops(message).stamps


@settings(deadline=None)  # a loaded CI box
@given(
    mine=st.integers(min_value=0, max_value=8),
    others=st.integers(min_value=0, max_value=4),
    received=st.integers(min_value=0, max_value=60),
    limit=st.integers(min_value=1, max_value=6),
)
def test_any_number_of_stamps_below_the_limit_passes_and_at_it_loops(
    mine: int, others: int, received: int, limit: int
) -> None:
    """Whatever the mix of our stamps, others' stamps and Received headers, the message
    loops exactly when ours reach ``max_stamps`` or the Received headers the hop limit."""
    guard = Stamp(STAMP.header, STAMP.hostname, max_stamps=limit, hop_count_limit=50)
    lines = [ours()] * mine + [ours(host="gw.elsewhere.test")] * others
    lines += [
        b"Received: from a ([127.0.0.1]) by b with ESMTP;\r\n\tSat, 5 Dec 2026\r\n"
    ] * received
    hops = guard.hops(b"".join(lines) + BODY)
    assert Hops(mine, received) == hops
    assert (mine >= limit or received >= 50) == guard.looped(hops)
