"""Addresses as people write them: generated PAF addresses in random written variants
are found with the right kind; their benign twins are not."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.match import Index, match
from gateway.segments import Segment
from tests.unit.match import paf
from tests.unit.match.conftest import Scanner, kinds

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def found(index: Index, text: str) -> set[str]:
    return {f.kind.value for f in match(index, [Segment("body", text)], ()).findings}


@SETTINGS
@given(st.data(), paf.addresses())
def test_an_address_in_any_written_variant_is_an_address(data: st.DataObject, a: paf.Paf) -> None:
    """Number before or after the street, suffix apart, flats, case and abbreviations."""
    index = paf.index_of(a.register_text())
    text = data.draw(paf.render_address(a))
    assert "address" in found(index, text), text


@SETTINGS
@given(st.data(), paf.addresses())
def test_another_number_on_the_street_is_not_the_address(data: st.DataObject, a: paf.Paf) -> None:
    """A neighbour's house (another number, any written variant) is no address finding."""
    index = paf.index_of(a.register_text())
    text = data.draw(paf.render_address(paf.another_number(a)))
    assert "address" not in found(index, text), text


@SETTINGS
@given(st.data(), paf.addresses())
def test_another_street_is_not_the_address(data: st.DataObject, a: paf.Paf) -> None:
    """The same number on another street is nothing."""
    index = paf.index_of(a.register_text())
    text = data.draw(paf.render_address(paf.another_street(a)))
    assert not {"address", "street"} & found(index, text), text


@SETTINGS
@given(st.data(), paf.addresses())
def test_the_street_with_its_town_or_district_is_a_street_finding(
    data: st.DataObject, a: paf.Paf
) -> None:
    """``she moved to X Road in Town`` / ``X Road, LS6``: kind ``street``, medium."""
    index = paf.index_of(a.register_text())
    text = data.draw(paf.render_street(a))
    result = match(index, [Segment("body", text)], ())
    assert {("street", "medium")} == {(f.kind.value, f.confidence.value) for f in result.findings}


@SETTINGS
@given(st.data(), paf.addresses())
def test_the_street_in_another_town_is_nothing(data: st.DataObject, a: paf.Paf) -> None:
    """A street of the same name in another town and district is not a finding."""
    index = paf.index_of(a.register_text())
    assert set() == found(index, data.draw(paf.render_street(paf.another_town(a))))


@SETTINGS
@given(paf.addresses(), st.sampled_from(["{}", "{} ", "at {}!"]))
def test_words_of_the_address_alone_are_nothing(a: paf.Paf, frame: str) -> None:
    """The street name, the descriptor or the town alone never match."""
    index = paf.index_of(a.register_text())
    for word in (a.name, a.descriptor, a.town, a.street):
        assert set() == found(index, frame.format(word))


_SPELLINGS = st.sampled_from(["{o} {i}", "{o}{i}", "{o}-{i}", "{o}  {i}", "{O} {I}", "{s}"])


@SETTINGS
@given(paf.postcodes(), _SPELLINGS)
def test_a_postcode_in_any_spacing_is_found(code: tuple[str, str], spelling: str) -> None:
    """Lower or upper case, no space, hyphen, double space, spaced characters."""
    outward, inward = code
    index = paf.index_of(f"1 Kingfisher Road, Leeds, {outward} {inward}")
    spaced = " ".join(outward + inward)
    text = spelling.format(o=outward.lower(), i=inward.lower(), O=outward, I=inward, s=spaced)
    assert {"postcode"} == found(index, f"post it to {text} please")


@SETTINGS
@given(paf.postcodes(), _SPELLINGS)
def test_another_postcode_in_the_same_spacing_is_nothing(
    code: tuple[str, str], spelling: str
) -> None:
    """A postcode one unit letter away, written the same way, is not found."""
    outward, inward = code
    index = paf.index_of(f"1 Kingfisher Road, Leeds, {outward} {inward}")
    other = inward[:2] + ("A" if inward[2] != "A" else "B")
    spaced = " ".join(outward + other)
    text = spelling.format(o=outward.lower(), i=other.lower(), O=outward, I=other, s=spaced)
    assert set() == found(index, f"post it to {text} please")


HOUSE_NAMED = "The Willows, Mill Lane, Hexham, NE46 3RS"


@pytest.mark.parametrize(
    "text",
    ["The Willows, Mill Lane", "the willows\nmill ln", "The Willows, Hexham", "Willows, NE46 3RS"],
)
def test_a_house_name_with_its_street_town_or_postcode_is_an_address(text: str) -> None:
    """A house name counts as an address with its street, town or postcode beside it."""
    assert "address" in found(paf.index_of(HOUSE_NAMED), text)


@pytest.mark.parametrize(
    "text", ["The Willows", "we sat under the willows", "Mill Lane", "a mill by the lane"]
)
def test_a_house_name_or_street_alone_is_nothing(text: str) -> None:
    """The house name alone, or the street without its town, is not a finding."""
    assert set() == found(paf.index_of(HOUSE_NAMED), text)


@pytest.mark.parametrize(
    "text", ["Brae", "the brae above Glenview", "Newydd", "Beech", "a beech grove", "Grove"]
)
def test_common_words_of_protected_names_never_match_alone(text: str) -> None:
    """Words that are part of a protected street or house name are nothing on their own."""
    index = paf.index_of(
        "Flat 1/1, 136 Glenview Brae, Glasgow, G12 8QQ",
        "7C Beech Grove, Cardiff, CF24 4LN",
        "14 Heol Newydd, Pontypridd, CF37 4AA",
        "Beech House, Mill Lane, Hexham",
    )
    assert set() == found(index, text)


@pytest.mark.parametrize(
    "text",
    [
        "Flat 1/1, 136 Glenview Brae",
        "136 Glenview Brae (1/1)",
        "1/1 136 Glenview Brae",
        "136/1 Glenview Brae",
        "2F1 136 Glenview Brae",
        "0/2, 136 Glenview Brae, Glasgow",
    ],
)
def test_tenement_flats_in_any_order_are_the_address(text: str) -> None:
    """Scottish tenement positions before or after the number do not hide it."""
    index = paf.index_of("Flat 1/1, 136 Glenview Brae, Glasgow, G12 8QQ")
    assert "address" in found(index, text)


@pytest.mark.parametrize("text", ["7-9 Beech Grove", "7 Beech Grove", "9 Beech Grove, Leeds"])
def test_a_numbered_range_answers_to_its_numbers(text: str) -> None:
    """A building at ``7-9`` is found as 7-9, as 7 and as 9."""
    assert "address" in found(paf.index_of("7-9 Beech Grove, Leeds, LS6 1AB"), text)


def test_the_street_finding_is_the_cases(scan: Scanner) -> None:
    """The street with its town is a ``street`` finding of the case that lives there."""
    assert {("street", "DA-1")} == kinds(scan("she's moved to Kingfisher Road in Leeds"))


def test_a_second_address_after_the_street_is_not_its_number(scan: Scanner) -> None:
    """``Kingfisher Road, 27 Elm Street``: the 27 is Elm Street's."""
    assert ("address", "DA-1") not in kinds(scan("Kingfisher Road, 27 Elm Street, York"))
