"""Tests of the one reading of line endings that the scan and the relay share."""

from __future__ import annotations

import pytest
from aiosmtplib.protocol import normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.parse import canonical_line_endings, header_block, parse_message

SENTENCE = "Please forward her post to 27 Kingfisher Road."
HEAD = b"From: officer@council.example\r\nTo: someone@example.org\r\nSubject: Post"
#: bytes made of line-ending pieces and a little text, so every mixture occurs
wire = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"b:", b" ", b"."])).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(wire)
def test_line_endings_are_read_as_the_relay_writes_them(raw: bytes) -> None:
    """The scan's canonical bytes are the bytes aiosmtplib sends for the same input."""
    assert normalize_message_line_endings(raw) == canonical_line_endings(raw)


@settings(max_examples=200, deadline=None)
@given(wire)
def test_canonical_bytes_have_only_crlf_and_stay_as_they_are(raw: bytes) -> None:
    """After one pass no bare CR or LF is left, and a second pass changes nothing."""
    once = canonical_line_endings(raw)
    assert once.count(b"\r") == once.count(b"\n") == once.count(b"\r\n")
    assert once == canonical_line_endings(once)


@settings(max_examples=200, deadline=None)
@given(wire)
def test_header_block_ends_where_the_canonical_bytes_have_their_blank_line(
    raw: bytes,
) -> None:
    """The header block of the raw bytes is, once canonical, that of the canonical bytes."""
    assert header_block(canonical_line_endings(raw)) == canonical_line_endings(header_block(raw))


@pytest.mark.parametrize("blank", [b"\r\r\n", b"\r\n\r", b"\n\r\n", b"\r\r", b"\n\n", b"\n\r"])
def test_a_blank_line_of_any_line_endings_ends_the_headers(blank: bytes) -> None:
    """However the blank line is written, the sentence after it is the body."""
    message = parse_message(HEAD + blank + SENTENCE.encode() + b"\r\n")
    assert "Post" == message["subject"]
    assert SENTENCE + "\r\n" == message.get_payload()


def test_an_empty_first_line_makes_everything_body() -> None:
    """A message opening with a blank line has no headers: what follows is all body."""
    message = parse_message(b"\r\nSubject: " + SENTENCE.encode() + b"\r\n\r\nmore\r\n")
    assert [] == message.keys()
    assert f"Subject: {SENTENCE}\r\n\r\nmore\r\n" == message.get_payload()
