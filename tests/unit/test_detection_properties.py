"""The core against generated leaks: a detail of a generated register, written and carried
in random compositions of the ways mail really carries text (and hostile ones), is held;
its benign twin (another person's detail through the same transformations) is delivered.

Each transformation is a class the scan must see through: transfer encodings, charset
labels, HTML wrappers and hidden elements, invisible characters, lookalike letters,
line folding, containers, spacing and line breaks.  The detail and its twin go through
the same composition, so a twin that is held is a false positive of the composition,
and a detail that is delivered is a leak.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.envelope import Envelope
from gateway.match import build_index
from gateway.policy import default_policy_dir, load_policy
from gateway.register import parse_register
from gateway.scan import ScanSettings, scan

RESTRICTED = "gary.holt@example.com"
SENDER = "officer@council.example.gov.uk"

# Word pools: protected streets and their twins never share a word, nor come within
# one edit of each other, so a twin can only be held by a false positive.
PROTECTED_STREETS = ("Kingfisher", "Larchwood", "Heronsgate", "Bramblewick", "Foxglove")
TWIN_STREETS = ("Wensleydale", "Thornbury", "Ashcombe", "Greystoke", "Millbeck")
DESCRIPTORS = (("Road", "Rd"), ("Street", "St"), ("Avenue", "Ave"), ("Close", "Cl"))
TOWNS = ("Leeds", "Bradford", "Wakefield", "Harrogate")
GIVEN = ("Sarah", "Joanne", "Bethan", "Ailsa")
SURNAMES = ("Whitmore", "Pritchard", "Kowalczyk", "Ferreira")


@dataclass(frozen=True)
class Person:
    """One generated person: what the register holds, and how staff write it."""

    name: str
    house: int
    street: str
    descriptor: tuple[str, str]
    town: str
    postcode: str
    mobile: str

    def register_address(self) -> str:
        return f"{self.house} {self.street} {self.descriptor[0]}, {self.town}, {self.postcode}"


def _postcode(outward: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, a, b: f"{outward} {n}{a}{b}",
        st.integers(1, 9),
        st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"),
        st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"),
    )


def people(
    streets: tuple[str, ...], outward: str, mobiles: tuple[int, int]
) -> st.SearchStrategy[Person]:
    return st.builds(
        Person,
        name=st.builds(lambda g, s: f"{g} {s}", st.sampled_from(GIVEN), st.sampled_from(SURNAMES)),
        house=st.integers(1, 240),
        street=st.sampled_from(streets),
        descriptor=st.sampled_from(DESCRIPTORS),
        town=st.sampled_from(TOWNS),
        postcode=_postcode(outward),
        mobile=st.builds(lambda n: f"07{n:09d}", st.integers(*mobiles)),
    )


def register_of(person: Person) -> str:
    return f"""
version: 1
cases:
  - id: GEN-1
    protected:
      - name: {person.name}
        addresses: ["{person.register_address()}"]
        phones: ["{person.mobile}"]
    restricted:
      - name: Gary Holt
        emails: [{RESTRICTED}]
"""


# --- how staff write the detail ------------------------------------------------------


def written(pick: random.Random, person: Person, kind: str) -> str:
    """The detail as a person would type it (abbreviations, case, line breaks)."""
    if kind == "phone":
        d = person.mobile
        forms = [
            d,
            f"{d[:5]} {d[5:]}",
            f"{d[:5]} {d[5:8]} {d[8:]}",
            f"+44 {d[1:5]} {d[5:]}",
            f"+44 (0){d[1:5]} {d[5:]}",
            f"{d[:5]}-{d[5:]}",
        ]
        return pick.choice(forms)
    street = f"{person.house} {person.street} {pick.choice(person.descriptor)}"
    street = pick.choice([street, street.upper(), street.lower()])
    sep = pick.choice([", ", "\n", " ", ",\n"])
    return sep.join([street, person.town, pick.choice([person.postcode, person.postcode.lower()])])


# --- text-level transformations -----------------------------------------------------

INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff")
LOOKALIKE = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "y": "\u0443",
    "i": "\u0456",
    "K": "\u041a",
    "H": "\u041d",
    "B": "\u0392",
    "O": "\u039f",
    "0": "\uff10",
    "7": "\uff17",
}
SPACES = ("\u00a0", "\u2009", "\u202f", "  ")


def invisible(pick: random.Random, text: str) -> str:
    """Zero-width and format characters dropped into random places of the detail."""
    for _ in range(pick.randint(1, 4)):
        at = pick.randint(1, max(1, len(text) - 1))
        text = text[:at] + pick.choice(INVISIBLE) + text[at:]
    return text


def lookalikes(pick: random.Random, text: str) -> str:
    """Some letters swapped for letters of other scripts that look the same."""
    swap = set(pick.sample(sorted(LOOKALIKE), 4))
    return "".join(LOOKALIKE[ch] if ch in swap else ch for ch in text)


def spacing(pick: random.Random, text: str) -> str:
    """Ordinary spaces turned into no-break, thin or doubled spaces."""
    return text.replace(" ", pick.choice(SPACES))


TEXT_TRICKS: dict[str, Callable[[random.Random, str], str]] = {
    "invisible": invisible,
    "lookalikes": lookalikes,
    "spacing": spacing,
}


# --- carriers: where the text sits ---------------------------------------------------


def html_wrap(pick: random.Random, text: str) -> str:
    """The detail inside HTML, with tags, a hidden element or a comment inside a word,
    entity-encoded characters, or table cells."""
    trick = pick.choice(["tags", "hidden", "comment", "entities", "cells"])
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>")
    if trick == "tags":
        at = pick.randint(1, max(1, len(escaped) - 1))
        body = f"<b>{escaped[:at]}</b><i>{escaped[at:]}</i>"
    elif trick in ("hidden", "comment"):
        letters = [i for i, ch in enumerate(escaped) if ch.isalpha()][1:] or [1]
        at = pick.choice(letters)
        inner = '<span style="display:none">9</span>' if trick == "hidden" else "<!-- x -->"
        body = escaped[:at] + inner + escaped[at:]
    elif trick == "entities":
        body = "".join(
            f"&#{ord(ch)};" if ch.isalnum() and pick.random() < 0.5 else ch for ch in escaped
        )
    else:
        body = (
            "<table><tr>"
            + "".join(f"<td>{c}</td>" for c in escaped.split("<br>"))
            + "</tr></table>"
        )
    return f"<html><body><p>Please note the following:</p><div>{body}</div></body></html>"


def calendar(pick: random.Random, text: str) -> str:
    """The detail as an iCalendar LOCATION, folded at a random place (RFC 5545)."""
    value = "LOCATION:" + text.replace("\n", "\\n").replace(",", "\\,")
    at = pick.randint(10, max(10, len(value) - 1))
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@example\r\n"
        f"SUMMARY:Visit\r\n{value[:at]}\r\n {value[at:]}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


#: charset labels as a mail may declare them -> the codec that writes the bytes
CHARSETS = {
    "utf-8": "utf-8",
    "windows-1252": "cp1252",
    "latin1": "cp1252",
    "utf-16": "utf-16",
    "unicode": "utf-16-le",
    "ucs-2": "utf-16-le",
    "csUnicode": "utf-16-le",
    "iso-2022-jp": "iso-2022-jp",
    "utf-7": "utf-7",
}


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _part(headers: str, data: bytes, cte: str) -> bytes:
    if cte == "base64":
        body = base64.encodebytes(data)
    else:
        # binary mode: CR and LF bytes (inside UTF-16 code units too) are escaped
        body = binascii.b2a_qp(data, quotetabs=True, istext=False)
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return f"{headers}Content-Transfer-Encoding: {cte}\r\n\r\n".encode() + body


def text_part(pick: random.Random, text: str, subtype: str) -> bytes:
    """A text part in a random charset label and transfer encoding."""
    labels = [label for label, codec in CHARSETS.items() if _encodable(text, codec)]
    label = pick.choice(labels)
    data = text.encode(CHARSETS[label])
    head = f'Content-Type: text/{subtype}; charset="{label}"\r\n'
    return _part(head, data, pick.choice(["base64", "quoted-printable"]))


def container(pick: random.Random, sentence: str, text: str) -> bytes:
    """An attachment carrying the sentence: a text file, a zip, a forwarded message,
    or a calendar invitation."""
    kind = pick.choice(["file", "zip", "forwarded", "ics"])
    if kind == "ics":
        head = 'Content-Type: text/calendar; charset="utf-8"\r\n'
        head += 'Content-Disposition: attachment; filename="visit.ics"\r\n'
        return _part(head, calendar(pick, text).encode(), "base64")
    if kind == "forwarded":
        inner = "From: a@council.example.gov.uk\r\nSubject: Fwd\r\n" + text_part(
            pick, sentence, "plain"
        ).decode("ascii")
        return b"Content-Type: message/rfc822\r\n\r\n" + inner.encode("ascii")
    data = sentence.encode("utf-8")
    name = "visit.dat"
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("notes/visit.txt", data)
        data, name = buffer.getvalue(), "notes.zip"
    head = "Content-Type: application/octet-stream\r\n"
    head += f'Content-Disposition: attachment; filename="{name}"\r\n'
    return _part(head, data, "base64")


def message(pick: random.Random, person: Person, kind: str) -> bytes:
    """One message carrying ``person``'s detail through a random composition."""
    text = written(pick, person, kind)
    for name in pick.sample(sorted(TEXT_TRICKS), pick.randint(0, 3)):
        text = TEXT_TRICKS[name](pick, text)
    sentence = f"Hello,\n\nFor the file: {text}\n\nRegards,\nHousing Options\n"
    head = (
        f"From: Housing Options <{SENDER}>\r\nTo: Gary Holt <{RESTRICTED}>\r\n"
        "Subject: Update\r\nMIME-Version: 1.0\r\n"
    ).encode()
    carrier = pick.choice(["plain", "html", "attachment"])
    if carrier != "attachment":
        body = html_wrap(pick, sentence) if carrier == "html" else sentence
        return head + text_part(pick, body, carrier)
    boundary = "b1_" + "x" * 12
    parts = [
        text_part(pick, "Please see the attached.\n", "plain"),
        container(pick, sentence, text),
    ]
    out = head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


POLICY = load_policy(default_policy_dir())


def _action(person: Person, raw: bytes) -> str:
    index = build_index(parse_register(register_of(person), "generated.yaml").cases)
    envelope = Envelope(SENDER, [RESTRICTED], raw, explicit_rcpts=True)
    result = scan(envelope, index, POLICY, ScanSettings(("council.example.gov.uk",)))
    return result.verdict.action.value


@st.composite
def leaks(draw: st.DrawFn) -> tuple[Person, bytes, Person, bytes]:
    """A protected person and a message carrying their detail; a twin person (not in
    the register) and the same composition (the same seed) carrying theirs."""
    person = draw(people(PROTECTED_STREETS, "LS6", (700_000_000, 799_999_999)))
    twin = draw(people(TWIN_STREETS, "BD7", (800_000_000, 999_999_999)))
    kind = draw(st.sampled_from(["address", "phone"]))
    seed = draw(st.integers(0, 2**32))
    return (
        person,
        message(random.Random(seed), person, kind),  # noqa: S311 - test data
        twin,
        message(random.Random(seed), twin, kind),  # noqa: S311 - test data
    )


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(leaks())
def test_a_detail_through_any_composition_is_held(
    case: tuple[Person, bytes, Person, bytes],
) -> None:
    """A protected address or phone, however written, encoded and carried, is held when
    it goes to the case's restricted contact."""
    person, leak, _twin, _benign = case
    assert "quarantine" == _action(person, leak)


@PROPERTY
@given(leaks())
def test_the_benign_twin_of_any_composition_is_delivered(
    case: tuple[Person, bytes, Person, bytes],
) -> None:
    """Another person's address or phone through the same composition is delivered."""
    person, _leak, _twin, benign = case
    assert "deliver" == _action(person, benign)
