"""Register addresses -> PAF parts: every way a register writes one address agrees."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.register import address as A
from tests.unit.match import paf


@pytest.mark.parametrize(
    "text",
    ["7C Beech Grove, Cardiff", "7 C Beech Grove, Cardiff", "7-c Beech Gro., Cardiff"],
)
def test_a_suffix_written_apart_is_the_numbers(text: str) -> None:
    """``7 C`` and ``7-c`` are the building number 7C, not a street called C Beech."""
    form = A.parse_address(text)
    assert ("7c", "beech", "grove") == (form.house, form.street, form.kind)


def test_a_welsh_descriptor_comes_before_its_name() -> None:
    """``Heol Newydd`` is a street called Newydd whose descriptor is heol."""
    form = A.parse_address("14 Heol Newydd, Pontypridd, CF37 4AA")
    assert ("14", "newydd", "heol", ("pontypridd",)) == (
        form.house,
        form.street,
        form.kind,
        form.town,
    )


@pytest.mark.parametrize(
    ("text", "house", "flat"),
    [
        ("Flat 1/1, 136 Glenview Brae, Glasgow", "136", "1"),
        ("136/1 Glenview Brae", "136", "1"),
        ("3/27 Kingfisher Road", "27", "3"),
    ],
)
def test_tenement_and_stair_flats_give_the_building_number(
    text: str, house: str, flat: str
) -> None:
    """Glasgow ``1/1`` and Edinburgh ``136/1`` keep the building number as the house."""
    form = A.parse_address(text)
    assert (house, flat, "brae" if "Brae" in text else "road") == (form.house, form.flat, form.kind)


def test_a_range_answers_to_both_numbers() -> None:
    """``7-9 Beech Grove`` is number 9 and number 7."""
    form = A.parse_address("7-9 Beech Grove, Leeds")
    assert ("9", ("7",), "") == (form.house, form.also, form.flat)


def test_a_house_name_is_kept_apart_from_the_street() -> None:
    """``The Willows, Mill Lane``: building the willows on the street mill lane."""
    form = A.parse_address("The Willows, Mill Lane, Hexham, NE46 3RS")
    assert (("the", "willows"), "mill", "lane", "") == (
        form.building,
        form.street,
        form.kind,
        form.house,
    )


def test_the_numbered_street_line_wins_over_a_named_building() -> None:
    """``Rose Villas, 12 Mill Lane``: villas is the building's word, Mill Lane the street."""
    form = A.parse_address("Rose Villas, 12 Mill Lane, York")
    assert ("12", "mill", ("rose", "villas")) == (form.house, form.street, form.building)


@settings(max_examples=150, deadline=None)
@given(paf.addresses())
def test_every_generated_paf_address_parses_to_its_elements(a: paf.Paf) -> None:
    """Number, suffix, flat, street name, descriptor, town and postcode all come back."""
    form = A.parse_address(a.register_text())
    expected_kind = A.STREET_TYPES[a.descriptor.lower()]
    assert (a.house.lower(), str(a.flat or ""), a.name.lower(), expected_kind) == (
        form.house,
        form.flat,
        form.street,
        form.kind,
    )
    assert (a.postcode.replace(" ", ""), (a.town.lower(),)) == (form.postcode, form.town)


@settings(max_examples=150, deadline=None)
@given(paf.postcodes(), st.sampled_from(["{} {}", "{}{}", "{}-{}", "{}  {}"]))
def test_text_postcodes_in_any_spacing_are_one_canonical_code(
    code: tuple[str, str], spelling: str
) -> None:
    """The text pattern reads every spacing of a postcode to the register's form."""
    outward, inward = code
    match = A.POSTCODE_TEXT_RE.search(spelling.format(outward, inward).lower())
    assert match is not None
    assert outward + inward == A.text_postcode(match)


@given(st.sampled_from(sorted(A.AREAS)), st.integers(1, 9), st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"))
def test_postcodes_of_every_royal_mail_area_are_real_and_other_letters_are_not(
    area: str, district: int, unit: str
) -> None:
    """A postcode in any Royal Mail area is real; the same shape after letters that
    are no area (``on 27th`` read as ON2 7TH) is not."""
    code = f"{area.upper()}{district}{district}{unit}{unit}"
    assert A.real_area(code)
    assert not A.real_area(f"ON{district}{district}{unit}{unit}")
