"""Synthetic registers and messages for the benchmarks: deterministic, invented data.

Names, streets and postcodes are drawn from word lists and syllables so that a
million cases have realistic variety (many distinct surnames and streets, common
first names shared by thousands of cases).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

from gateway.register.model import Case, ProtectedPerson, RestrictedContact

FIRST = [
    "sarah",
    "emma",
    "olivia",
    "amelia",
    "isla",
    "ava",
    "mia",
    "grace",
    "sophia",
    "lily",
    "emily",
    "poppy",
    "jessica",
    "ella",
    "charlotte",
    "ruby",
    "evie",
    "daisy",
    "chloe",
    "lucy",
    "holly",
    "hannah",
    "megan",
    "rebecca",
    "laura",
    "amy",
    "zoe",
    "priya",
    "aisha",
    "fatima",
    "maria",
    "anna",
    "joanna",
    "karen",
    "helen",
    "susan",
    "claire",
    "rachel",
    "nicola",
    "james",
    "oliver",
    "jack",
    "harry",
    "george",
    "noah",
    "leo",
    "oscar",
    "charlie",
    "jacob",
    "thomas",
    "william",
    "daniel",
    "mark",
    "paul",
    "david",
    "michael",
    "andrew",
    "richard",
    "robert",
    "peter",
    "stephen",
    "simon",
    "ian",
    "kevin",
    "gary",
    "lee",
    "dean",
    "craig",
    "darren",
    "wayne",
    "liam",
    "ryan",
    "adam",
    "ben",
    "sam",
    "tom",
    "joe",
    "luke",
]
SUR_A = [
    "ash",
    "black",
    "brad",
    "brook",
    "burn",
    "castle",
    "church",
    "clay",
    "cole",
    "cross",
    "dal",
    "den",
    "dun",
    "eld",
    "fair",
    "fern",
    "ford",
    "gal",
    "glen",
    "gold",
    "green",
    "hal",
    "hart",
    "hay",
    "hol",
    "kirk",
    "lang",
    "lock",
    "mar",
    "mer",
    "mill",
    "moor",
    "north",
    "os",
    "pem",
    "ray",
    "red",
    "ross",
    "rut",
    "sal",
    "shel",
    "stan",
    "thorn",
    "wal",
    "west",
    "whit",
    "wood",
]
SUR_B = [
    "by",
    "ton",
    "ley",
    "well",
    "wood",
    "more",
    "field",
    "worth",
    "ham",
    "cott",
    "bury",
    "dale",
    "man",
    "son",
    "ridge",
    "ford",
    "stone",
    "well",
    "ing",
    "croft",
    "hurst",
    "wick",
    "shaw",
    "combe",
    "holme",
    "low",
    "lin",
]
STREETS = [
    "kingfisher",
    "heron",
    "oak",
    "elm",
    "ash",
    "birch",
    "willow",
    "maple",
    "cedar",
    "rowan",
    "hazel",
    "holly",
    "laurel",
    "station",
    "church",
    "mill",
    "bridge",
    "market",
    "chapel",
    "school",
    "park",
    "victoria",
    "albert",
    "queens",
    "kings",
    "york",
    "windsor",
    "grange",
    "manor",
    "meadow",
    "orchard",
    "spring",
    "brook",
    "river",
    "lake",
    "forest",
    "highfield",
    "westfield",
    "northgate",
    "southgate",
    "eastwood",
    "fairview",
    "hillcrest",
    "greenbank",
    "primrose",
    "bluebell",
    "foxglove",
    "clover",
    "heather",
    "juniper",
    "lavender",
    "magnolia",
    "sycamore",
    "beech",
    "chestnut",
    "poplar",
    "alder",
    "hawthorn",
    "blackthorn",
    "sandpiper",
    "curlew",
    "plover",
    "wren",
    "robin",
    "thrush",
    "finch",
    "swallow",
    "martin",
    "lark",
    "raven",
    "falcon",
    "osprey",
    "kestrel",
    "merlin",
]
TYPES = [
    "road",
    "street",
    "avenue",
    "lane",
    "drive",
    "close",
    "crescent",
    "court",
    "place",
    "grove",
    "way",
    "gardens",
]
TOWNS = [
    "leeds",
    "york",
    "bradford",
    "sheffield",
    "hull",
    "wakefield",
    "halifax",
    "huddersfield",
    "harrogate",
    "doncaster",
    "rotherham",
    "barnsley",
    "manchester",
    "salford",
    "bolton",
    "bury",
    "oldham",
    "rochdale",
    "stockport",
    "wigan",
    "liverpool",
    "preston",
    "blackburn",
    "burnley",
    "lancaster",
    "carlisle",
    "durham",
]
AREAS = [
    "LS",
    "YO",
    "BD",
    "S",
    "HU",
    "WF",
    "HX",
    "HD",
    "HG",
    "DN",
    "M",
    "BL",
    "OL",
    "SK",
    "WN",
    "L",
    "PR",
    "BB",
    "LA",
    "CA",
    "DH",
    "NE",
    "SR",
    "TS",
]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def surname(rng: random.Random) -> str:
    return (rng.choice(SUR_A) + rng.choice(SUR_B)).capitalize()


def postcode(rng: random.Random) -> str:
    inward = f"{rng.randint(0, 9)}{rng.choice(LETTERS)}{rng.choice(LETTERS)}"
    return f"{rng.choice(AREAS)}{rng.randint(1, 29)} {inward}"


def address(rng: random.Random) -> str:
    street = f"{rng.choice(STREETS).capitalize()} {rng.choice(TYPES).capitalize()}"
    flat = f"Flat {rng.randint(1, 9)}, " if rng.random() < 0.3 else ""
    return (
        f"{flat}{rng.randint(1, 199)} {street}, {rng.choice(TOWNS).capitalize()}, {postcode(rng)}"
    )


def phone(rng: random.Random) -> str:
    return f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}"


def case(number: int, rng: random.Random) -> Case:
    family = surname(rng)
    adult = ProtectedPerson.model_construct(
        name=f"{rng.choice(FIRST).capitalize()} {family}",
        aliases=[f"{rng.choice(FIRST).capitalize()} {surname(rng)}"] if rng.random() < 0.3 else [],
        date_of_birth=dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 15000)),
        addresses=[address(rng)],
        phones=[phone(rng)],
        emails=[f"{family.lower()}.{number}@mail.example.net"],
    )
    people = [adult]
    if rng.random() < 0.5:
        people.append(
            ProtectedPerson.model_construct(
                name=f"{rng.choice(FIRST).capitalize()} {family}",
                aliases=[],
                date_of_birth=dt.date(2008, 1, 1) + dt.timedelta(days=rng.randint(0, 5000)),
                addresses=[],
                phones=[],
                emails=[],
            )
        )
    other = surname(rng)
    restricted = RestrictedContact.model_construct(
        name=f"{rng.choice(FIRST).capitalize()} {other}",
        aliases=[],
        emails=[f"{other.lower()}{number}@example.com"],
        phones=[],
    )
    return Case.model_construct(
        id=f"BX-{number:07d}", protected=people, restricted=[restricted], allowed_recipients=[]
    )


def part(count: int, parts: int, which: int, seed: int = 7) -> Iterator[Case]:
    """Case ``which`` of ``parts`` equal slices of a ``count``-case register."""
    size = -(-count // parts)
    start = which * size
    rng = random.Random(seed * 1_000_003 + which)
    for number in range(start, min(count, start + size)):
        yield case(number, rng)


def cases(count: int, parts: int = 2, seed: int = 7) -> Iterator[Case]:
    """The whole register, in the order its parts number their records."""
    for which in range(parts):
        yield from part(count, parts, which, seed)


def messages(corpus: Path, count: int, size: int = 10_000, seed: int = 11) -> list[bytes]:
    """Plain-text messages of about ``size`` bytes, their bodies made of real mail text."""
    rng = random.Random(seed)
    bodies = []
    for path in sorted(corpus.glob("*.eml"))[:400]:
        raw = path.read_bytes()
        bodies.append(raw.split(b"\n\n", 1)[-1].decode("latin-1"))
    out = []
    for number in range(count):
        text = ""
        while len(text) < size:
            text += rng.choice(bodies) + "\n"
        head = (
            f"From: officer@council.example.gov.uk\nTo: someone{number}@partner.example\n"
            f"Subject: Update {number}\nContent-Type: text/plain; charset=utf-8\n\n"
        )
        out.append((head + text[:size]).encode("utf-8"))
    return out
