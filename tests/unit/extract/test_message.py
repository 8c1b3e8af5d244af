"""Tests of the MIME walk: headers, bodies, encodings and charsets."""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from builders import MARKER, message, raw

from gateway.extract import extract
from gateway.parse import POLICY, header_block, parse_message
from gateway.segments import Extraction


def texts(result: Extraction, location: str) -> list[str]:
    """Texts of every segment at ``location``."""
    return [s.text for s in result.segments if s.location == location]


def test_subject_and_body_get_their_own_locations() -> None:
    """The Subject header and a text/plain body become `subject` and `body` segments."""
    result = extract(raw(message(body=f"Lives at {MARKER}", subject="Visit")))
    assert texts(result, "subject") == ["Visit"]
    assert texts(result, "body") == [f"Lives at {MARKER}\n"]


def test_address_headers_list_names_and_addresses_one_per_line() -> None:
    """To/Cc/From give display names and addresses, one address per line."""
    msg = message()
    msg["Cc"] = '"Doe, Jane" <jane@example.org>, bob@example.org'
    result = extract(raw(msg))
    assert texts(result, "header:cc") == ["Doe, Jane <jane@example.org>\nbob@example.org"]
    assert texts(result, "header:from") == ["Case Worker <worker@council.example>"]


def test_rfc2047_subject_and_display_names_are_decoded() -> None:
    """Encoded words in the subject and display names come out as text."""
    data = (
        b"From: =?utf-8?q?Zo=C3=AB_Smith?= <zoe@example.org>\r\n"
        b"To: =?iso-8859-1?b?Sm9z6Q==?= <jose@example.org>\r\n"
        b"Subject: =?utf-8?b?MjcgS2luZ2Zpc2hlciBSb2Fk?=\r\n\r\nhi\r\n"
    )
    result = extract(data)
    assert texts(result, "subject") == [MARKER]
    assert texts(result, "header:from") == ["Zoë Smith <zoe@example.org>"]
    assert texts(result, "header:to") == ["José <jose@example.org>"]


def test_both_alternatives_of_multipart_alternative_are_body() -> None:
    """The plain and the HTML alternative both yield `body` segments."""
    result = extract(raw(message(body="plain Osprey", html="<p>html <b>Avocet</b></p>")))
    bodies = texts(result, "body")
    assert len(bodies) == 2
    assert "Osprey" in bodies[0]
    assert "html Avocet" in bodies[1]


def test_html_table_cells_are_separated_by_whitespace() -> None:
    """Adjacent table cells never glue words together."""
    html = "<table><tr><td>27</td><td>Kingfisher Road</td></tr></table>"
    result = extract(raw(message(html=html)))
    assert texts(result, "body")[1].split() == ["27", "Kingfisher", "Road"]


def test_html_keeps_hidden_text_alt_and_entities_but_drops_scripts() -> None:
    """Hidden text, alt/title attributes and entities count; script and style do not."""
    html = (
        '<div style="display:none">Hidden&nbsp;Heron</div><p hidden>Wren &amp; Co</p>'
        '<img alt="Photo Finch"><script>var secret="Script";</script>'
        "<style>.x{color:red}</style>"
    )
    result = extract(raw(message(html=html)))
    body = texts(result, "body")[1]
    assert "Hidden Heron" in body  # &nbsp; decoded, then read as a plain space
    assert "Wren & Co" in body
    assert "Photo Finch" in body
    assert "Script" not in body
    assert "color" not in body


def test_quoted_printable_body_is_decoded() -> None:
    """A quoted-printable body with soft line breaks decodes to its text."""
    data = (
        b"Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"27 Kingfisher =\r\nRoad caf=C3=A9\r\n"
    )
    assert texts(extract(data), "body") == [f"{MARKER} café\n"]


def test_base64_body_is_decoded() -> None:
    """A base64 body decodes to its text."""
    data = (
        b"Subject: b64\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\nMjcgS2luZ2Zpc2hlciBSb2Fk\r\n"
    )
    assert texts(extract(data), "body") == [MARKER]


def test_latin1_bytes_declared_as_utf8_fall_back_to_cp1252() -> None:
    """Bytes that are not valid in the declared UTF-8 are read as cp1252."""
    data = b"Content-Type: text/plain; charset=utf-8\r\n\r\nJos\xe9 at 27 Kingfisher Road\r\n"
    assert texts(extract(data), "body") == [f"José at {MARKER}\n"]


def test_utf8_bytes_declared_as_latin1_are_read_as_utf8() -> None:
    """Valid UTF-8 wins over a declared single-byte charset."""
    data = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nJos\xc3\xa9\r\n"
    assert texts(extract(data), "body") == ["José\n"]


def test_unknown_charset_does_not_raise() -> None:
    """A charset Python does not know falls back instead of failing."""
    data = b"Content-Type: text/plain; charset=x-klingon\r\n\r\nZo\xeb\r\n"
    assert texts(extract(data), "body") == ["Zoë\n"]


def test_uuencoded_body_is_decoded() -> None:
    """A part with Content-Transfer-Encoding x-uuencode decodes through the stdlib."""
    data = (
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 a.txt\r\n2,C<@2VEN9V9I<VAE<B!2;V%D\r\n`\r\nend\r\n"
    )
    assert texts(extract(data), "body") == [MARKER]


def test_attachment_without_filename_is_named_by_index() -> None:
    """An unnamed non-text attachment gets a `partN.bin` name."""
    msg = message()
    msg.add_attachment(MARKER.encode(), maintype="text", subtype="csv", disposition="attachment")
    del msg.get_payload()[-1]["Content-Disposition"]  # type: ignore[union-attr]
    msg.get_payload()[-1]["Content-Disposition"] = "attachment"  # type: ignore[index]
    result = extract(raw(msg))
    assert any(
        s.location.startswith("attachment:part") and MARKER in s.text for s in result.segments
    )


def test_cr_only_line_endings_are_parsed_as_lines() -> None:
    """Old Mac CR-only line endings are normalised before parsing."""
    data = b"Subject: Mac\rTo: a@example.org\r\r27 Kingfisher Road\r"
    result = extract(data)
    assert texts(result, "subject") == ["Mac"]
    assert texts(result, "body") == [f"{MARKER}\n"]


def test_empty_and_one_byte_inputs_give_no_segments() -> None:
    """0-byte and 1-byte messages extract to nothing, without raising."""
    assert extract(b"").segments == ()
    assert extract(b"x").unreadable == ()


def test_parse_message_records_defects_instead_of_raising() -> None:
    """A multipart without its boundary parses with a recorded defect."""
    msg = parse_message(b"Content-Type: multipart/mixed\r\n\r\nbody\r\n")
    assert msg.defects


def test_oversized_message_is_unreadable_over_size_limit() -> None:
    """A message larger than max_message_bytes is reported, not read."""
    from gateway.extract import Limits

    result = extract(raw(message(body="x" * 2000)), Limits(max_message_bytes=1000))
    assert [(u.location, u.reason) for u in result.unreadable] == [("message", "over size limit")]


def test_exhausted_time_budget_stops_with_message_unreadable() -> None:
    """With no time budget left, extraction stops and says so."""
    from gateway.extract import Limits

    result = extract(raw(message()), Limits(time_budget_s=-1.0))
    assert ("message", "over time budget") in [(u.location, u.reason) for u in result.unreadable]


@pytest.mark.parametrize(
    "content_type",
    [
        None,  # no Content-Type: text/plain by default
        "text/plain; charset=utf-8",
        "TEXT/HTML",
        'text/plain; charset="utf-8" (a comment)',
        "application/pdf",
        '"text/plain"',  # quoted: not a text type to the parser
        "multipart/mixed; boundary=b",
    ],
)
def test_the_single_part_fast_path_agrees_with_the_full_parse(content_type: str | None) -> None:
    """Whatever path reads the Content-Type, a message's body type is the parser's."""
    head = f"Content-Type: {content_type}\r\n" if content_type else ""
    data = f"Subject: t\r\n{head}\r\n--b\r\n\r\nbody\r\n--b--\r\n".encode()
    full = BytesParser(EmailMessage, policy=POLICY).parsebytes(data)
    msg = parse_message(data)
    assert full.get_content_type() == msg.get_content_type()
    assert full.is_multipart() == msg.is_multipart()
    assert full.as_bytes() == msg.as_bytes()


def test_header_block_stops_at_the_first_blank_line() -> None:
    assert b"To: a@b.example\r\n\r\n" == header_block(b"To: a@b.example\r\n\r\nTo: c@d.example\r\n")
    assert b"To: a@b.example\n" == header_block(b"To: a@b.example\n")
