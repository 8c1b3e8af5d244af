"""Hypothesis strategies for PAF-shaped UK addresses and the ways people write them.

An address is drawn from its Royal Mail PAF elements (sub-building, building name,
number with an optional suffix, thoroughfare name and descriptor, post town,
postcode); ``render_*`` write one in a random variant of how staff write addresses.
Every value is invented.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from gateway.match import Index, build_index
from gateway.register import address as A
from gateway.register import parse_register

# Street names that are not descriptors, common words or each other one edit apart.
NAMES = ["Kingfisher", "Glenview", "Larkspur", "Heronsgate", "Ashbourne", "Marlowe", "Tavistock"]
TOWNS = ["Leeds", "Hexham", "Pontypridd", "Glasgow", "Dundee", "Cardiff", "Norwich"]
HOUSE_NAMES = ["The Willows", "Beech House", "Rose Cottage", "Tanglewood", "The Old Forge"]
# Descriptor -> how people write it (full, abbreviated, with a dot).
TRAILING = {
    "Road": ["Road", "Rd", "Rd.", "ROAD"],
    "Street": ["Street", "St", "St."],
    "Avenue": ["Avenue", "Ave", "Av."],
    "Close": ["Close", "Cl"],
    "Crescent": ["Crescent", "Cres", "Cres."],
    "Gardens": ["Gardens", "Gdns"],
    "Terrace": ["Terrace", "Terr", "Tce"],
    "Grove": ["Grove", "Gro", "Gr."],
    "Heights": ["Heights", "Hts"],
    "Brae": ["Brae"],
    "Wynd": ["Wynd"],
    "Loan": ["Loan"],
    "Vennel": ["Vennel"],
    "Row": ["Row"],
    "Walk": ["Walk", "Wlk"],
}
LEADING = ["Heol", "Ffordd", "Stryd", "Cilgant", "Rhodfa"]
# PAF letters of the inward unit.
UNIT = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class Paf:
    """One generated address, by element."""

    number: int
    suffix: str
    flat: int | None
    name: str
    descriptor: str
    leading: bool
    town: str
    outward: str
    inward: str
    house_name: str = ""

    @property
    def house(self) -> str:
        return f"{self.number}{self.suffix}"

    @property
    def street(self) -> str:
        return (
            f"{self.descriptor} {self.name}" if self.leading else f"{self.name} {self.descriptor}"
        )

    @property
    def postcode(self) -> str:
        return f"{self.outward} {self.inward}"

    def register_text(self) -> str:
        flat = f"Flat {self.flat}, " if self.flat else ""
        return f"{flat}{self.house} {self.street}, {self.town}, {self.postcode}"


@st.composite
def postcodes(draw: st.DrawFn) -> tuple[str, str]:
    """(outward, inward) in one of the six PAF outward shapes."""
    # a Royal Mail area: "NO1 0AA" is no postcode ("no 1" is a house number)
    area = draw(st.sampled_from(sorted(A.AREAS))).upper()
    district = str(draw(st.integers(1, 9 if len(area) == 1 else 29)))
    if draw(st.booleans()) and len(district) == 1:
        district += draw(st.sampled_from("ABEHMNPRW"))
    inward = str(draw(st.integers(0, 9))) + draw(st.text(UNIT, min_size=2, max_size=2))
    return area + district, inward


@st.composite
def addresses(draw: st.DrawFn) -> Paf:
    leading = draw(st.integers(0, 5)) == 0
    descriptor = draw(st.sampled_from(LEADING if leading else sorted(TRAILING)))
    outward, inward = draw(postcodes())
    return Paf(
        number=draw(st.integers(1, 250)),
        suffix=draw(st.sampled_from(["", "", "", "A", "C"])),
        flat=draw(st.one_of(st.none(), st.integers(1, 12))),
        name=draw(st.sampled_from(NAMES)),
        descriptor=descriptor,
        leading=leading,
        town=draw(st.sampled_from(TOWNS)),
        outward=outward,
        inward=inward,
    )


def index_of(*lines: str) -> Index:
    """An index of one case whose protected person lives at ``lines``."""
    quoted = ", ".join(f'"{line}"' for line in lines)
    register = parse_register(
        f"""
version: 1
cases:
  - id: DA-9
    protected:
      - name: Test Person
        addresses: [{quoted}]
    restricted:
      - name: Other Person
        emails: [other@example.org]
""",
        "paf.yaml",
    )
    return build_index(register.cases)


def _written_street(draw: st.DrawFn, a: Paf) -> str:
    word = draw(st.sampled_from(TRAILING.get(a.descriptor, [a.descriptor])))
    street = f"{word} {a.name}" if a.leading else f"{a.name} {word}"
    return draw(st.sampled_from([street, street.upper(), street.lower()]))


def _written_number(draw: st.DrawFn, a: Paf) -> str:
    if not a.suffix:
        return str(a.number)
    gap = draw(st.sampled_from(["", " ", "-"]))
    return f"{a.number}{gap}{draw(st.sampled_from([a.suffix, a.suffix.lower()]))}"


@st.composite
def render_address(draw: st.DrawFn, a: Paf) -> str:
    """The address with its number, in a random written variant."""
    street, number = _written_street(draw, a), _written_number(draw, a)
    flat = str(a.flat or "")
    form = draw(
        st.sampled_from(["before", "after", "tenement", "slash"] if a.flat else ["before", "after"])
    )
    if form == "after" and not a.leading:
        marker = draw(st.sampled_from([", number ", " no. ", " No ", " #", ", house number "]))
        line = f"{street}{marker}{number}"
    elif form == "tenement":
        line = f"{number} {street} ({flat}/1)"
    elif form == "slash":
        line = f"{flat}/{number} {street}"
    else:
        lead = draw(st.sampled_from(["", f"Flat {flat}, " if flat else ""]))
        line = f"{lead}{number} {street}"
    tail = draw(st.sampled_from(["", f", {a.town}", f"\n{a.town}\n{a.postcode}", f" {a.postcode}"]))
    sep = draw(st.sampled_from(["", "\n", "the address is "]))
    return f"Hello,{sep}{line}{tail}."


@st.composite
def render_street(draw: st.DrawFn, a: Paf) -> str:
    """The street with its town or postcode district, no number."""
    street = _written_street(draw, a)
    place = draw(
        st.sampled_from([f" in {a.town}", f", {a.town}", f", {a.outward}", f" ({a.town})"])
    )
    return draw(st.sampled_from(["she moved to {}.", "now on {} I think", "{}"])).format(
        street + place
    )


def another_number(a: Paf) -> Paf:
    return replace(a, number=a.number + 2, flat=None)


def another_street(a: Paf) -> Paf:
    return replace(a, name=NAMES[(NAMES.index(a.name) + 1) % len(NAMES)])


def another_town(a: Paf) -> Paf:
    other = "ZE2" if a.outward == "ZE3" else "ZE3"  # never the address's own district
    return replace(a, town=TOWNS[(TOWNS.index(a.town) + 1) % len(TOWNS)], outward=other)
