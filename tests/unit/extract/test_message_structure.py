"""Tests that every reading a client may make of a message's structure is scanned:
line endings, every header field, duplicate and conflicting content fields, broken
boundaries, preamble and epilogue, header lines the parser drops."""

from __future__ import annotations

import base64
import binascii
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.extract.structure import MALFORMED_HEADER, UNDELIMITED
from gateway.segments import Extraction

SENTENCE = "Her new home is 27 Kingfisher Road, Leeds LS6 3QT."
BENIGN = "The depot is at 40 Harrow Road, Leeds LS9 8AA."
_SPACE = re.compile(r"\s+")


def found(result: Extraction, sentence: str = SENTENCE) -> set[str]:
    """Locations whose text carries ``sentence`` (whitespace read as one space)."""
    return {s.location for s in result.segments if sentence in _SPACE.sub(" ", s.text)}


def texts(result: Extraction, location: str) -> list[str]:
    """Texts of every segment at ``location``."""
    return [s.text for s in result.segments if s.location == location]


def encode(text: str, cte: str) -> str:
    """``text`` in the transfer encoding ``cte`` (7bit: as it is)."""
    data = text.encode()
    if cte == "base64":
        return base64.encodebytes(data).decode()
    if cte == "quoted-printable":
        return binascii.b2a_qp(data).decode()
    return text


def wire(lines: list[str], ends: list[bytes]) -> bytes:
    """``lines`` joined by the line endings ``ends`` (cycled), as a client might send."""
    return b"".join(line.encode() + ends[i % len(ends)] for i, line in enumerate(lines))


HEADERS = ["From: Officer <officer@council.example>", "To: mark@example.com", "Subject: Post"]
line_ends = st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(line_ends, st.sampled_from([b"\r\r\n", b"\r\n\r", b"\n\r\n", b"\r\r", b"\n\n", b"\r\n\r\n"]))
def test_the_body_is_read_whatever_the_line_endings(ends: list[bytes], blank: bytes) -> None:
    """Any mixture of CR, LF and CRLF, and any blank line, leaves the body scanned."""
    data = wire(HEADERS[:-1], ends) + b"Subject: Post" + blank + SENTENCE.encode() + b"\r\n"
    assert "body" in found(extract(data))


@settings(max_examples=150, deadline=None)
@given(
    st.permutations(["text/plain", "text/html", "application/octet-stream", "image/png"]),
    st.permutations(["7bit", "base64", "quoted-printable"]),
    st.integers(1, 4),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
)
def test_conflicting_content_fields_are_read_every_way(
    types: list[str], ctes: list[str], n_types: int, n_ctes: int, rng: object
) -> None:
    """With several Content-Type and Content-Transfer-Encoding fields in any order,
    the body encoded with any declared encoding is read."""
    declared_types, declared_ctes = types[:n_types], ctes[:n_ctes]
    fields = [f"Content-Type: {t}; charset=utf-8" for t in declared_types]
    fields += [f"Content-Transfer-Encoding: {c}" for c in declared_ctes]
    rng.shuffle(fields)  # type: ignore[attr-defined]
    body = encode(SENTENCE, rng.choice(declared_ctes))  # type: ignore[attr-defined]
    data = "\r\n".join([*HEADERS, *fields, "", body]).encode()
    assert found(extract(data)), (fields, body)


def multipart(
    head: str, boundary_lines: tuple[str, str], inner_cte: str = "base64", text: str = SENTENCE
) -> bytes:
    """A multipart whose one part is ``text`` in ``inner_cte``, framed by the two
    ``boundary_lines`` (open, close) whatever the declared boundary says."""
    opening, closing = boundary_lines
    lines = [*HEADERS, "MIME-Version: 1.0", head, "", "preamble words", opening]
    lines += ["Content-Type: text/plain; charset=utf-8", f"Content-Transfer-Encoding: {inner_cte}"]
    lines += ["", encode(text, inner_cte).rstrip("\n")]
    lines += [closing] if closing else []
    return "\r\n".join(lines).encode() + b"\r\n"


BROKEN = [
    ("Content-Type: multipart/mixed", ("--b1", "--b1--")),  # no boundary parameter
    ('Content-Type: multipart/mixed; boundary=""', ("--b1", "--b1--")),  # empty boundary
    ('Content-Type: multipart/mixed; boundary="zz"', ("--b1", "--b1--")),  # never appears
    ('Content-Type: multipart/mixed; boundary="B1"', ("--b1", "--b1--")),  # another case
    ('Content-Type: multipart/mixed; boundary="b1"', ("--b1", "")),  # never closed
    ('Content-Type: multipart/mixed; boundary="zz"', ("--b1", "--b2--")),  # two tokens
    ("Content-Type: multipart/mixed;\r\n boundary=b1", ("--b1", "--b1--")),  # folded
]


@pytest.mark.parametrize(("head", "lines"), BROKEN)
@pytest.mark.parametrize("inner_cte", ["base64", "quoted-printable", "7bit"])
def test_a_multipart_with_an_unusable_boundary_is_still_read(
    head: str, lines: tuple[str, str], inner_cte: str
) -> None:
    """A missing, empty, absent or mismatched boundary: the encoded part is decoded."""
    result = extract(multipart(head, lines, inner_cte))
    assert found(result)
    assert [] == [u for u in result.unreadable if u.reason == UNDELIMITED]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(BROKEN),
    st.sampled_from(["base64", "quoted-printable", "7bit"]),
    st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_boundary_breakage_with_any_line_endings_hides_nothing(
    case: tuple[str, tuple[str, str]], inner_cte: str, end: str
) -> None:
    """Broken boundaries combined with any line endings: the sentence is read."""
    data = multipart(*case, inner_cte).replace(b"\r\n", end.encode())
    assert found(extract(data))


def test_parts_no_boundary_can_delimit_are_unscannable() -> None:
    """An encoded part inside a multipart with no boundary line at all is unscannable."""
    data = "\r\n".join(
        [
            *HEADERS,
            "Content-Type: multipart/mixed",
            "",
            "Content-Transfer-Encoding: base64",
            "",
            encode(SENTENCE, "base64"),
        ]
    ).encode()
    assert UNDELIMITED in [u.reason for u in extract(data).unreadable]


def test_a_whole_multipart_in_base64_is_decoded_and_split() -> None:
    """A multipart body sent base64-encoded as a whole is read as a client decoding it."""
    inner = "--b1\r\nContent-Type: text/plain\r\n\r\n" + SENTENCE + "\r\n--b1--\r\n"
    data = "\r\n".join(
        [
            *HEADERS,
            'Content-Type: multipart/mixed; boundary="b1"',
            "Content-Transfer-Encoding: base64",
            "",
            encode(inner, "base64"),
        ]
    ).encode()
    assert found(extract(data))


def test_ordinary_multipart_mail_is_not_unscannable() -> None:
    """A well-formed multipart (benign twin) has no unreadable part and is read once."""
    head = 'Content-Type: multipart/mixed; boundary="b1"'
    result = extract(multipart(head, ("--b1", "--b1--"), text=BENIGN))
    assert () == result.unreadable
    assert 1 == sum(BENIGN in s.text for s in result.segments)


def test_preamble_and_epilogue_are_body_text() -> None:
    """Text before the first boundary and after the last is read as body."""
    lines = [*HEADERS, 'Content-Type: multipart/mixed; boundary="b1"', "", SENTENCE, "--b1"]
    lines += ["Content-Type: text/plain", "", "hello", "--b1--", BENIGN]
    result = extract("\r\n".join(lines).encode())
    assert {"body"} == found(result) == found(result, BENIGN)


def test_every_subject_field_is_the_subject() -> None:
    """A second Subject field is read as well as the first."""
    data = "\r\n".join([*HEADERS, f"Subject: {SENTENCE}", "", "hi"]).encode()
    assert ["Post\n" + SENTENCE] == texts(extract(data), "subject")


@pytest.mark.parametrize(
    "name",
    [
        "Sender",
        "Resent-From",
        "Resent-To",
        "Disposition-Notification-To",
        "Return-Receipt-To",
        "Reply-To",
        "Bcc",
        "Mail-Followup-To",
    ],
)
def test_display_names_of_every_address_field_are_read(name: str) -> None:
    """The display name of any address field, RFC 2047-encoded or not, is text."""
    encoded = "=?utf-8?b?" + base64.b64encode(SENTENCE.encode()).decode() + "?="
    for shown in (f'"{SENTENCE}"', encoded):
        data = "\r\n".join([*HEADERS, f"{name}: {shown} <x@example.org>", "", "hi"]).encode()
        assert {f"header:{name.lower()}"} == found(extract(data))


@pytest.mark.parametrize(
    "name", ["Organization", "Comments", "Keywords", "Summary", "Content-Description"]
)
def test_human_text_fields_are_read_under_their_name(name: str) -> None:
    """Organization, Comments, Keywords and the like are content of their own."""
    data = "\r\n".join([*HEADERS, f"{name}: {SENTENCE}", "", "hi"]).encode()
    assert {f"header:{name.lower()}"} == found(extract(data))


@pytest.mark.parametrize("name", ["Received", "Date", "Message-ID", "X-Anything", "DKIM-Signature"])
def test_every_other_field_is_read_under_header_other(name: str) -> None:
    """Received lines and every other field are read, one ``Name: value`` line each."""
    data = "\r\n".join([*HEADERS, f"{name}: {SENTENCE}", "", "hi"]).encode()
    result = extract(data)
    assert {"header:other"} == found(result)
    assert f"{name}: {SENTENCE}" in texts(result, "header:other")[0].splitlines()


def test_a_second_file_name_in_the_content_type_is_read() -> None:
    """A Content-Type name that differs from the attachment's file name is text too."""
    lines = [*HEADERS, 'Content-Type: multipart/mixed; boundary="b1"', "", "--b1"]
    lines += [f'Content-Type: text/plain; name="{SENTENCE}"']
    lines += ['Content-Disposition: attachment; filename="notes.txt"', "", "hi", "--b1--"]
    assert {"header:other"} == found(extract("\r\n".join(lines).encode()))


def test_an_unknown_field_name_is_read_but_never_named_in_a_location() -> None:
    """A field name is sender-chosen text: read, and kept out of every location."""
    data = "\r\n".join([*HEADERS, "X-Kingfisher-Road: 27", "", "hi"]).encode()
    result = extract(data)
    assert ["X-Kingfisher-Road: 27"] == texts(result, "header:other")
    assert [] == [s for s in result.segments if "kingfisher" in s.location.lower()]


@settings(max_examples=100, deadline=None)
@given(st.permutations([*HEADERS, f"Comments: {SENTENCE}", "Date: Thu, 3 Dec 2026", "X-A: b"]))
def test_field_order_does_not_matter(fields: list[str]) -> None:
    """Wherever the field carrying the sentence stands, it is read."""
    assert {"header:comments"} == found(extract("\r\n".join([*fields, "", "hi"]).encode()))


def test_a_dropped_first_header_line_is_still_read() -> None:
    """A first header line that is a continuation, dropped by the parser, is text."""
    data = ("\t" + SENTENCE + "\r\n" + "\r\n".join([*HEADERS, "", "hi"])).encode()
    assert {"header:malformed"} == found(extract(data))


def test_fields_after_a_line_that_is_not_a_field_are_read_as_fields() -> None:
    """After a stray line in the header block, an encoding a client applies is applied."""
    lines = [*HEADERS, "stray line", "Content-Transfer-Encoding: base64", ""]
    data = "\r\n".join([*lines, encode(SENTENCE, "base64")]).encode()
    assert "body" in found(extract(data))


def test_a_field_line_without_a_name_is_unscannable() -> None:
    """The parser drops a ``: value`` line with its text, so that place is unreadable."""
    data = "\r\n".join([*HEADERS, f": {SENTENCE}", "", "hi"]).encode()
    assert [MALFORMED_HEADER] == [u.reason for u in extract(data).unreadable]
