"""Text read off an image (``Segment.reading == "ocr"``) is matched through OCR's
confusions: a generated detail, garbled as Tesseract garbles print, is found; other
people's details garbled the same way, and ordinary mail read as if OCR'd, are not."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.extract import extract
from gateway.findings import Match
from gateway.match import Index, build_index, match
from gateway.register import parse_register
from gateway.register.glyphs import clean
from gateway.register.ocrcodes import lookalike_postcodes
from gateway.register.ocrread import read
from gateway.segments import OCR, Segment
from tests.unit.match.conftest import Scanner, kinds

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared"
HAM = sorted((SHARED / "corpus" / "ham").glob("*.eml"))
EXAMPLE_REGISTER = SHARED / "contracts" / "register.example.yaml"

# Protected street names carry what OCR confuses (rn/m, cl/d, vv/w, li/h, i/l); twins
# share no word with them, nor come within OCR's reach of one.
STREETS = ("Kingfisher", "Elmwood", "Fernhill", "Clayburn", "Hawthorn", "Millbrook", "Wildmoor")
TWIN_STREETS = ("Ashcombe", "Greystoke", "Thornbury", "Wensleydale", "Pebblestone")
DESCRIPTORS = ("Road", "Street", "Close", "Drive", "Lane", "Avenue", "Way", "Mews")
TOWNS = ("Leeds", "Bradford", "Wakefield", "Harrogate", "Halifax", "Sheffield")
AREAS = ("LS", "BD", "TN", "S", "M", "B", "L", "G", "HD", "OL", "SO", "WF", "HX", "DL")
UNIT = "ABDEFGHJLNPQRSTUWXYZ"
SPECIAL_OUTWARDS = ("SW1A", "EC1A", "WC2N", "W1A", "E1W", "N1C")


@dataclass(frozen=True)
class Person:
    """One generated person with a UK address, a mobile and an email address."""

    house: int
    street: str
    descriptor: str
    town: str
    outward: str
    inward: str
    mobile: str
    email: str

    @property
    def postcode(self) -> str:
        return f"{self.outward} {self.inward}"

    def address(self) -> str:
        return f"{self.house} {self.street} {self.descriptor}, {self.town} {self.postcode}"


def _outward() -> st.SearchStrategy[str]:
    ordinary = st.builds(lambda a, d: f"{a}{d}", st.sampled_from(AREAS), st.integers(1, 29))
    return st.one_of(ordinary, ordinary, ordinary, st.sampled_from(SPECIAL_OUTWARDS))


def _inward() -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, a, b: f"{n}{a}{b}",
        st.integers(0, 9),
        st.sampled_from(UNIT),
        st.sampled_from(UNIT),
    )


def people(streets: tuple[str, ...] = STREETS) -> st.SearchStrategy[Person]:
    return st.builds(
        Person,
        house=st.integers(1, 240),
        street=st.sampled_from(streets),
        descriptor=st.sampled_from(DESCRIPTORS),
        town=st.sampled_from(TOWNS),
        outward=_outward(),
        inward=_inward(),
        mobile=st.builds(lambda n: f"07700 9{n:05d}", st.integers(0, 99999)),
        email=st.builds(
            lambda first, last, host: f"{first}.{last}@{host}",
            st.sampled_from(("sarah", "joanne", "bethan", "ailsa", "miriam", "claude")),
            st.sampled_from(("whitmore", "holden", "lindqvist", "mcbride", "wardle")),
            st.sampled_from(("gmail.com", "example.net", "hotmail.co.uk", "outlook.com")),
        ),
    )


def index_of(person: Person) -> Index:
    register = parse_register(
        f"""
version: 1
cases:
  - id: GEN-1
    protected:
      - name: Ruth Example
        addresses: ["{person.address()}"]
        phones: ["{person.mobile}"]
        emails: [{person.email}]
    restricted:
      - name: Gary Holt
        emails: [gary.holt@example.com]
""",
        "generated.yaml",
    )
    return build_index(register.cases, register.protected_locations)


def scan(index: Index, text: str, reading: str = OCR) -> Match:
    """The matcher on one attachment's text, cleaned as ``Context.add`` cleans it."""
    return match(index, [Segment("attachment:scan.png", clean(text), reading)], [])


# --- OCR's confusions -----------------------------------------------------------------

# What Tesseract writes for what was printed (both ways where OCR goes both ways).
CONFUSIONS = {
    "0": "OoDQ",
    "O": "0D",
    "1": "lI|",
    "l": "1I|",
    "I": "1l",
    "i": "1l",
    "5": "S",
    "S": "5",
    "s": "5",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "6": "Gb",
    "G": "6",
    "b": "6",
    "9": "gq",
    "g": "9",
    "q": "9",
}
SEQUENCES = {"rn": "m", "m": "rn", "cl": "d", "d": "cl", "vv": "w", "w": "vv", "li": "h", "h": "li"}


def confuse(pick: random.Random, text: str) -> str:
    """One character (or pair) read as its lookalike."""
    sites = [(i, 1, CONFUSIONS[c]) for i, c in enumerate(text) if c in CONFUSIONS]
    sites += [
        (i, len(seq), [out])
        for seq, out in SEQUENCES.items()
        for i in range(len(text))
        if text.startswith(seq, i)
    ]
    if not sites:
        return text
    at, size, outs = pick.choice(sites)
    return text[:at] + pick.choice(outs) + text[at + size :]


def drop_space(pick: random.Random, text: str) -> str:
    """A space lost (``27KingfisherRoad``, ``LS63QT``)."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    at = pick.choice(spaces) if spaces else -1
    return text if at < 0 else text[:at] + text[at + 1 :]


def _inside_long_word(pick: random.Random, text: str) -> int:
    """A place inside a word of six letters or more, or -1."""
    places = [
        i
        for i in range(3, len(text) - 2)
        if text[i - 3 : i + 3].isalpha() and text[i - 3 : i + 3].isascii()
    ]
    return pick.choice(places) if places else -1


def add_space(pick: random.Random, text: str) -> str:
    """A space inside a long word (``King fisher``)."""
    at = _inside_long_word(pick, text)
    return text if at < 0 else text[:at] + " " + text[at:]


def hyphenate(pick: random.Random, text: str) -> str:
    """A long word broken at a line's end (``King-\\nfisher``)."""
    at = _inside_long_word(pick, text)
    return text if at < 0 else text[:at] + "-\n" + text[at:]


def break_line(pick: random.Random, text: str) -> str:
    """A line broken at a space (mid-address, between a postcode's halves)."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    at = pick.choice(spaces) if spaces else -1
    return text if at < 0 else text[:at] + "\n" + text[at + 1 :]


def stray(pick: random.Random, text: str) -> str:
    """A stray mark after a word, or inside a long one (``Kingf'isher``)."""
    mark = pick.choice(",.'`\"")
    at = _inside_long_word(pick, text) if pick.random() < 0.5 else -1
    if at < 0:
        ends = [i for i in range(1, len(text)) if text[i] == " " and text[i - 1].isalpha()]
        at = pick.choice(ends) if ends else -1
    return text if at < 0 else text[:at] + mark + text[at:]


ADDRESS_NOISE: tuple[Callable[[random.Random, str], str], ...] = (
    confuse,
    confuse,
    confuse,
    drop_space,
    add_space,
    hyphenate,
    break_line,
    stray,
)


def garble(pick: random.Random, text: str, noise: tuple[Callable[..., str], ...]) -> str:
    """One to three of OCR's errors, as a scan has a few per line."""
    for _ in range(pick.randint(1, 3)):
        text = pick.choice(noise)(pick, text)
    return text


def phone_noise(pick: random.Random, mobile: str) -> str:
    """Lookalike letters for digits, separators read oddly or lost."""
    digits = mobile.replace(" ", "")
    groups = pick.choice(
        [
            [digits[:5], digits[5:]],
            [digits[:5], digits[5:8], digits[8:]],
            ["+44", f"({pick.choice('0O')})" + digits[1:5], digits[5:]],
        ]
    )
    out = groups[0]
    for group in groups[1:]:
        out += pick.choice([" ", "  ", "-", ".", ",", " - ", "~", "'", "_", ""]) + group
    for _ in range(pick.randint(1, 3)):
        places = [i for i, c in enumerate(out) if c in "0125689"]
        if places:
            at = pick.choice(places)
            out = out[:at] + pick.choice(CONFUSIONS[out[at]]) + out[at + 1 :]
    return out


def email_noise(pick: random.Random, email: str) -> str:
    """Up to two letter confusions (``rn`` for ``m``, ``1`` for ``l``, ``.corn``), the
    "@" read as a copyright sign or spaced, a dot as a comma."""
    local, _, domain = email.partition("@")
    changes = pick.randint(0, 2)
    if changes and pick.random() < 0.5:
        domain = domain.replace(".com", ".corn")
        changes -= 1
    for _ in range(changes):
        sites = [(i, s) for s in SEQUENCES for i in range(len(local)) if local.startswith(s, i)]
        sites += [(i, c) for i, c in enumerate(local) if c in "ilo"]
        if sites:
            at, seq = pick.choice(sites)
            out = SEQUENCES.get(seq) or pick.choice({"i": "l1", "l": "1i", "o": "0"}[seq])
            local = local[:at] + out + local[at + len(seq) :]
    if pick.random() < 0.5:
        domain = domain.replace(".", ",", 1)
    return local + pick.choice(["@", "\u00a9", " @ "]) + domain


def in_letter(detail: str) -> str:
    return f"Dear Sir,\nWe write about the tenancy at\n{detail}\nYours faithfully,\nHousing Team"


OCR_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- a garbled detail is found ------------------------------------------------------------


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_garbled_address_in_ocr_text_is_found(person: Person, pick: random.Random) -> None:
    """An address with a few of OCR's errors (lookalikes, lost or extra spaces, broken
    lines, stray marks) is found as that case's address in an OCR segment."""
    text = in_letter(garble(pick, person.address(), ADDRESS_NOISE))
    assert ("address", "GEN-1") in kinds(scan(index_of(person), text)), text


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_garbled_postcode_in_ocr_text_is_found(person: Person, pick: random.Random) -> None:
    """A postcode alone, with lookalikes in it, its space lost or its halves on two
    lines, is found as that case's postcode."""
    noise = (confuse, confuse, drop_space, break_line)
    text = in_letter(f"Postcode: {garble(pick, person.postcode, noise)}")
    assert ("postcode", "GEN-1") in kinds(scan(index_of(person), text)), text


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_garbled_street_and_town_are_found(person: Person, pick: random.Random) -> None:
    """A street with its town, no number, with OCR's errors in them, is the case's
    ``street`` finding."""
    noise = (confuse, confuse, hyphenate, stray, break_line)
    detail = garble(pick, f"{person.street} {person.descriptor}", noise)
    text = in_letter(f"She moved to {detail} in {person.town} last year.")
    assert ("street", "GEN-1") in kinds(scan(index_of(person), text)), text


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_garbled_phone_in_ocr_text_is_found(person: Person, pick: random.Random) -> None:
    """A mobile number with letters for digits and odd separators is found."""
    text = in_letter(f"Tel: {phone_noise(pick, person.mobile)}")
    assert ("phone", "GEN-1") in kinds(scan(index_of(person), text)), text


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_garbled_email_in_ocr_text_is_found(person: Person, pick: random.Random) -> None:
    """An email address with up to two letter confusions and its marks misread is
    found."""
    text = in_letter(f"Email: {email_noise(pick, person.email)}")
    assert ("email", "GEN-1") in kinds(scan(index_of(person), text)), text


def house_noise(pick: random.Random, house: int) -> str:
    """A building number with one or two of its digits read as their lookalikes."""
    digits = list(str(house))
    places = [i for i, d in enumerate(digits) if d in CONFUSIONS]
    for at in pick.sample(places, min(len(places), pick.randint(1, 2))):
        digits[at] = pick.choice(CONFUSIONS[digits[at]])
    return "".join(digits)


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False), glued=st.booleans())
def test_building_number_misread_or_glued_to_its_street_is_found(
    person: Person, pick: random.Random, glued: bool
) -> None:
    """A building number written with letters for its digits (``l2Z``, ``B``, ``4q``:
    a last letter may be a digit or a suffix), its space to the street perhaps lost
    (``l02Elmwood``), is that case's address."""
    assume(any(d in CONFUSIONS for d in str(person.house)))
    street = f"{person.street} {person.descriptor}, {person.town} {person.postcode}"
    text = in_letter(f"{house_noise(pick, person.house)}{'' if glued else ' '}{street}")
    assert ("address", "GEN-1") in kinds(scan(index_of(person), text)), text


@OCR_SETTINGS
@given(person=people(), pick=st.randoms(use_true_random=False))
def test_every_reading_keeps_its_offsets_in_order(person: Person, pick: random.Random) -> None:
    """Whatever OCR's errors, a reading's offsets never go backwards and stay inside
    the OCR text, so evidence points into what the image said."""
    text = clean(
        "\n".join(
            (
                garble(pick, person.address(), ADDRESS_NOISE),
                f"{house_noise(pick, person.house)}{person.street}",
                phone_noise(pick, person.mobile),
                email_noise(pick, person.email),
            )
        )
    )
    reading = read(text)
    if reading is not None:
        assert list(reading.origin) == sorted(reading.origin), text
        assert reading.origin[-1] == len(text)
        assert len(reading.origin) == len(reading.text) + 1


# --- other people's details, and ordinary text, are not -------------------------------


def _near_postcode(pick: random.Random, person: Person) -> str:
    """Another valid postcode one character off, not by an OCR lookalike."""
    inward = person.inward
    if pick.random() < 0.5:
        digit = pick.choice([d for d in "0123456789" if d != inward[0]])
        return f"{person.outward} {digit}{inward[1:]}"
    at = pick.choice([1, 2])
    letter = pick.choice([c for c in UNIT if c != inward[at] and c not in "BDGQSZLI"])
    return f"{person.outward} {inward[:at]}{letter}{inward[at + 1 :]}"


@OCR_SETTINGS
@given(
    person=people(),
    twin=people(TWIN_STREETS),
    pick=st.randoms(use_true_random=False),
)
def test_other_peoples_garbled_details_are_not_found(
    person: Person, twin: Person, pick: random.Random
) -> None:
    """Someone else's address (another street, or the same street with another
    postcode one character off), phone and email, garbled the same way, are no
    finding of the case."""
    code = person.postcode.replace(" ", "")
    twin_code = twin.postcode.replace(" ", "")
    assume(twin_code != code and code not in lookalike_postcodes(twin.outward, twin.inward))
    assume(twin.mobile != person.mobile)
    near = dataclasses.replace(person, house=person.house % 240 + 1)
    near_code = _near_postcode(pick, person)
    mobile = person.mobile[:-1] + str((int(person.mobile[-1]) + 1) % 10)
    details = [
        garble(pick, twin.address(), ADDRESS_NOISE),
        garble(pick, f"{near.house} {near.street} {near.descriptor}", ADDRESS_NOISE),
        f"Postcode {garble(pick, near_code, (drop_space, break_line))}",
        f"Tel: {phone_noise(pick, twin.mobile)} or {phone_noise(pick, mobile)}",
        f"Email: {email_noise(pick, 'x' + person.email)}",
    ]
    index = index_of(person)
    for detail in details:
        found = scan(index, in_letter(detail))
        assert found.findings == (), detail


def test_a_postcode_one_lookalike_off_is_read_as_the_protected_one() -> None:
    """The other side of the trade: ``L56 3QT`` in a scan may be ``LS6 3QT`` misread,
    and nobody can tell, so it is held; in typed text it is another postcode."""
    person = Person(3, "Elmwood", "Road", "Leeds", "LS6", "3QT", "07700 900123", "a.b@c.com")
    index = index_of(person)
    assert ("postcode", "GEN-1") in kinds(scan(index, "at L56 3QT"))
    assert kinds(scan(index, "at L56 3QT", reading="")) == set()


# --- readable examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Flat 3, 27 KingfisherRoad,\nLeeds LS6 3QT", ("address", "DA-1")),
        ("27 Kingf1sher Raad, Leeds, LS6 3OT", ("address", "DA-1")),
        ("moved to King-\nfisher Road in Leeds", ("street", "DA-1")),
        ("Tel O77OO 9OO,461", ("phone", "DA-1")),
        ("call +44 {O)7700 9OO 46l", ("phone", "DA-1")),
        ("Tel: 97700 9OO461", ("phone", "DA-1")),
        ("27 Kingfisher Rd, LS6 3QU", ("address", "DA-1")),
        ("s.whit\u00a9grnail,corn", ("email", "DA-1")),
        ("Sarah Whitrnore", ("name", "DA-1")),
        ("14 St John's VVood Rd, London", ("address", "DA-2")),
        ("12 Exarnple Street, Sheffield 5I 2AB", ("protected_location", "refuge-north")),
        ("moved to Kingfislier Road in Leecls", ("street", "DA-1")),
    ],
)
def test_ocr_misreadings_are_found_only_in_ocr_segments(
    index: Index, text: str, expected: tuple[str, str]
) -> None:
    """Each misreading is found when the text was read off an image, and is not when
    the same characters were typed (ordinary text is matched exactly as before)."""
    assert expected in kinds(scan(index, text))
    assert expected not in kinds(Scanner(index)(clean(text)))


def test_evidence_points_into_the_ocr_text() -> None:
    """Evidence found in the reading is a span of the segment's own text, as OCR wrote it."""
    person = Person(27, "Kingfisher", "Close", "Leeds", "TN23", "4QP", "07700 900461", "a@b.com")
    text = "Re: 27KingfisherC1ose, Ash-\nford TN234QP and O77OO 9OO,461"
    found = scan(index_of(person), text)
    spans = {text[e.start : e.end] for e in found.evidence}
    assert spans == {"27KingfisherC1ose", "O77OO 9OO,461"}


def test_reading_keeps_every_offset_in_order() -> None:
    """The reading's offsets never go backwards and stay inside the OCR text."""
    text = "27KingfisherClose,\nKing-\nfisher Dose TN2B 4OP 077OO,9OO461 x\u00a9y,com"
    reading = read(text)
    assert reading is not None
    assert list(reading.origin) == sorted(reading.origin)
    assert reading.origin[-1] == len(text)
    assert len(reading.origin) == len(reading.text) + 1


# --- ordinary mail read as if OCR'd ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not HAM, reason="shared corpus not present")
def test_ordinary_mail_read_as_ocr_has_no_more_findings(index: Index) -> None:
    """The 2,000 business emails, their bodies read as if OCR'd (a scanned letter's
    text), give no finding that they do not give as ordinary text, against the example
    register and the tests'."""
    example = parse_register(EXAMPLE_REGISTER.read_text("utf-8"), str(EXAMPLE_REGISTER))
    indexes = [build_index(example.cases, example.protected_locations), index]
    extra = []
    for path in HAM:
        segments = [s for s in extract(path.read_bytes()).segments if s.location == "body"]
        as_ocr = [dataclasses.replace(s, reading=OCR) for s in segments]
        for idx in indexes:
            plain = {(f.kind, f.case) for f in match(idx, segments, []).findings}
            ocr = {(f.kind, f.case) for f in match(idx, as_ocr, []).findings}
            if ocr - plain:
                extra.append(path.name)
    assert extra == []
