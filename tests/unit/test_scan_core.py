"""The core end to end on in-memory messages: recipients, attachment names, failing closed."""

import base64
from collections.abc import Sequence

import pytest
from structlog.testing import capture_logs

from gateway.envelope import Envelope
from gateway.match import Index, build_index
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.register import parse_register
from gateway.scan import ScanSettings, addressees, scan

REGISTER = """
version: 1
cases:
  - id: C1
    protected:
      - name: Sarah Whitmore
        addresses: ["27 Kingfisher Road, Leeds LS6 3QT"]
    restricted:
      - name: Mark Whitmore
        emails: [mark@example.com]
"""


@pytest.fixture(scope="module")
def index() -> Index:
    return build_index(parse_register(REGISTER, "r.yaml").cases)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_dir())


class BrokenIndex(Index):
    """An index whose look-ups fail, standing in for any bug in the core."""

    def __init__(self, real: Index) -> None:
        self.__dict__.update(real.__dict__)

    def lookup(self, probes: Sequence[int], *args: object, **kwargs: object) -> list[list[int]]:
        raise RuntimeError("boom")


def _raw(body: str, to: str = "Bob <bob@elsewhere.example>", extra: str = "") -> bytes:
    return f"From: a@council.example\nTo: {to}\n{extra}Subject: s\n\n{body}\n".encode()


def test_a_failing_core_holds_the_message(index: Index, policy: Policy) -> None:
    """Fail closed: an exception inside the core quarantines the message as unscannable."""
    envelope = Envelope("a@council.example", ("bob@elsewhere.example",), _raw("hello"))
    with capture_logs() as logs:
        result = scan(envelope, BrokenIndex(index), policy, ScanSettings())
    assert "quarantine" == result.verdict.action.value
    assert ["unscannable-message"] == result.verdict.rules
    assert [{"event": "scan failed", "error": "RuntimeError", "log_level": "error"}] == logs


def test_without_envelope_recipients_the_headers_count() -> None:
    """No RCPT: To, Cc and Bcc are the recipients, each with its own location."""
    raw = _raw("x", to="A <a@x.example>", extra="Cc: b@y.example\nBcc: c@z.example\n")
    envelope = Envelope("", (), raw, explicit_rcpts=False)
    assert [
        ("a@x.example", "header:to", "A"),
        ("b@y.example", "header:cc", ""),
        ("c@z.example", "header:bcc", ""),
    ] == [(a.address, a.location, a.display_name) for a in addressees(envelope)]


def test_header_recipients_in_raw_utf8_are_read_as_utf8(index: Index, policy: Policy) -> None:
    """An 8-bit To field (RFC 6532) gives the address and display name as UTF-8, so a
    restricted contact's mailbox behind a lookalike letter is still recognised."""
    raw = "From: a@council.example\nTo: Märk <m\u0430rk@example.com>\nSubject: s\n\nhello\n"
    envelope = Envelope("", (), raw.encode(), explicit_rcpts=False)
    assert [("m\u0430rk@example.com", "header:to", "Märk")] == [
        (a.address, a.location, a.display_name) for a in addressees(envelope)
    ]
    found = scan(envelope, index, policy, ScanSettings()).match.findings
    assert ["probable_restricted_recipient"] == [f.kind.value for f in found]


def test_an_address_written_as_a_display_name_is_a_recipient_too() -> None:
    """``a@x <b@y>``: clients differ on which one is meant, so both count."""
    raw = _raw("x", to="mark@example.com <other@x.example>")
    envelope = Envelope("", (), raw, explicit_rcpts=False)
    assert ["mark@example.com", "other@x.example"] == [a.address for a in addressees(envelope)]


def test_envelope_recipients_take_display_names_from_headers() -> None:
    """With RCPT, header addresses outside the envelope do not count, but names carry over."""
    raw = _raw("x", to="Mark W <MARK@example.com>, other@x.example")
    envelope = Envelope("", ("mark@example.com",), raw)
    assert [("mark@example.com", "envelope", "Mark W")] == [
        (a.address, a.location, a.display_name) for a in addressees(envelope)
    ]


def test_reply_to_always_counts(index: Index, policy: Policy) -> None:
    """Replies would go to the Reply-To, so a restricted Reply-To is a restricted recipient."""
    raw = _raw("She lives at 27 Kingfisher Road.", extra="Reply-To: mark@example.com\n")
    envelope = Envelope("", ("bob@elsewhere.example",), raw)
    result = scan(envelope, index, policy, ScanSettings())
    assert "critical" == result.verdict.severity.value


def test_encoded_display_name_is_decoded(index: Index, policy: Policy) -> None:
    """An RFC 2047 display name of the restricted person makes a probable recipient."""
    raw = _raw("hello", to="=?utf-8?q?Mark_Whitmore?= <new@elsewhere.example>")
    result = scan(Envelope("", (), raw, explicit_rcpts=False), index, policy, ScanSettings())
    kinds = [f.kind.value for f in result.match.findings]
    assert ["probable_restricted_recipient"] == kinds


def test_attachment_name_carrying_a_detail_is_a_finding_and_is_renamed(
    index: Index, policy: Policy
) -> None:
    """A file called after the safe address leaks it too, and its name is not repeated."""
    raw = (
        b"From: a@council.example\nTo: bob@elsewhere.example\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
        b"--b\nContent-Type: text/plain\n"
        b'Content-Disposition: attachment; filename="27 Kingfisher Road.txt"\n\nnothing\n--b--\n'
    )
    result = scan(Envelope("", ("bob@elsewhere.example",), raw), index, policy, ScanSettings())
    assert [("address", "attachment:[name-1].txt")] == [
        (f.kind.value, f.location) for f in result.match.findings
    ]
    assert "quarantine" == result.verdict.action.value


def test_a_page_of_a_file_named_after_the_address_keeps_the_name_hidden(
    index: Index, policy: Policy
) -> None:
    """A multi-page scan called after the safe address: its pages (``#page=2``) are
    views of the same renamed file, so no location repeats the name."""
    from tests.imagegen import Scan, multipage_tiff, render

    pages = [render(["Letter, page one"], Scan(pt=14)), render(["27 Kingfisher Road"], Scan(pt=14))]
    raw = (
        b"From: a@council.example\nTo: bob@elsewhere.example\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
        b"--b\nContent-Type: image/tiff\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="27 Kingfisher Road.tif"\n\n'
        + base64.encodebytes(multipage_tiff(pages))
        + b"--b--\n"
    )
    result = scan(Envelope("", ("bob@elsewhere.example",), raw), index, policy, ScanSettings())
    located = {(f.kind.value, f.location) for f in result.match.findings}
    assert {
        ("address", "attachment:[name-1].tif"),
        ("address", "attachment:[name-1].tif#page=2"),
    } <= located
    assert not [loc for _, loc in located if "Kingfisher" in loc]


def test_the_result_carries_the_decoded_subject_for_the_review_list(
    index: Index, policy: Policy
) -> None:
    """An encoded, folded Subject comes back decoded on one line (kept sealed with a hold)."""
    raw = (
        b"From: a@council.example\nTo: bob@elsewhere.example\n"
        b"Subject: =?utf-8?q?Caf=C3=A9_visit?=\n notes\n\nhello\n"
    )
    result = scan(
        Envelope("a@council.example", ("bob@elsewhere.example",), raw),
        index,
        policy,
        ScanSettings(),
    )
    assert "Café visit notes" == result.subject
