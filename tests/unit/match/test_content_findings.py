"""Content matching: every form of a protected detail is found; near misses are not."""

import pytest

from gateway.match.verify import token_bounds
from gateway.register import normalise
from tests.unit.match.conftest import Scanner, kinds, only

ADDRESS = ("address", "DA-1")


@pytest.mark.parametrize(
    "text",
    [
        "She now lives at Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT.",
        "Address: 3/27 Kingfisher Rd, Leeds",
        "at 27 Kingfisher Road, Flat 3 (Leeds)",
        "visit 3 27 KINGFISHER RD tomorrow",
        "27 kingfisher road",
        "Flat 3\n27 Kingfisher\nRoad\nLeeds",
        "Flat 3\t27\tKingfisher Road\tLeeds\tLS6 3QT",
        "27, Kingfisher Rd.",
    ],
)
def test_address_forms_are_found(scan: Scanner, text: str) -> None:
    """Flat/house forms, abbreviations, case, line breaks and table cells all match."""
    assert ADDRESS in kinds(scan(text))


@pytest.mark.parametrize(
    "typo",
    [
        "27 Kingfisker Road",
        "27 Kingfiser Road",
        "27 Kingffisher Road",
        "27 Kignfisher Rd",
        "27 Kinfgisher Road",
        "27 Kingfihser Road",
        "27 Kingfisher Raod",
    ],
)
def test_one_character_typo_in_the_street_is_found(scan: Scanner, typo: str) -> None:
    """Substitution, deletion, insertion and a swap of two letters still match."""
    assert ADDRESS in kinds(scan(f"{typo}, Leeds"))


def test_typo_address_without_corroboration_is_medium(scan: Scanner) -> None:
    """A typo'd street with nothing else to back it up is a medium-confidence finding."""
    (finding,) = only(scan("27 Kingfisker Road"), "address")
    assert "medium" == finding.confidence.value


def test_street_without_type_is_found_through_its_postcode(scan: Scanner) -> None:
    """``27 Kingfisher, LS6 3QT`` is the address even without ``Road``."""
    result = scan("27 Kingfisher, LS6 3QT")
    assert ADDRESS in kinds(result)
    assert not only(result, "postcode")


@pytest.mark.parametrize("code", ["LS6 3QT", "ls63qt", "LS63QT", "ls6 3qt"])
def test_postcode_alone_is_its_own_kind(scan: Scanner, code: str) -> None:
    """A postcode without the street is a ``postcode`` finding, not an address."""
    assert {("postcode", "DA-1")} == kinds(scan(f"somewhere in {code} I think"))


def test_different_house_number_is_not_the_address(scan: Scanner) -> None:
    """29 Kingfisher Road is a neighbour's house."""
    assert ADDRESS not in kinds(scan("29 Kingfisher Road, Leeds"))


def test_different_postcode_means_a_different_address(scan: Scanner) -> None:
    """27 Kingfisher Road in another postcode is another street of that name."""
    assert set() == kinds(scan("27 Kingfisher Road, York YO1 7HH"))


def test_postcode_of_a_second_address_does_not_cancel_the_first(scan: Scanner) -> None:
    """Another address's postcode after the safe address is not a contradiction."""
    assert ADDRESS in kinds(scan("27 Kingfisher Road (was 5 Elm St, York YO1 7HH)"))


def test_two_edits_in_the_street_are_not_matched(scan: Scanner) -> None:
    """Typo tolerance is one edit, no more."""
    assert ADDRESS not in kinds(scan("27 Kingfiskar Road"))


def test_multi_word_street_with_apostrophe_is_found(scan: Scanner) -> None:
    """St John's Wood Road, written as St Johns Wood Rd."""
    assert ("address", "DA-2") in kinds(scan("flat at 14 St Johns Wood Road"))


@pytest.mark.parametrize(
    "text",
    [
        "she moved to rue de la Paix 12, 75002 Paris",
        "Keizersgracht 221\n1016 DV Amsterdam",
        "Hauptstrasse 12, 10115 Berlin",
        "HAUPTSTRASSE 12 - 10115 BERLIN - GERMANY",
        "<td>45 Rue des Lilas</td><td>69003 Lyon</td>",
    ],
)
def test_foreign_address_without_uk_street_line_is_found(scan: Scanner, text: str) -> None:
    """An address in another country is matched on its words and numbers, country or not."""
    assert {"DA-2", "DA-3"} & {case for kind, case in kinds(scan(text)) if kind == "address"}


def test_foreign_address_with_another_number_is_not_matched(scan: Scanner) -> None:
    """Keizersgracht 223 is a different house."""
    assert set() == kinds(scan("Keizersgracht 223, 1016 DV Amsterdam"))


@pytest.mark.parametrize(
    "text",
    [
        "the 2 of us. 3 Yewwell Grove, NG3 4GS",
        "Further to our call on 2 July 2025, the inspection at 3 Yewwell Grove, Lenton, NG3 4GS",
        "We manage 2 homes; 3 Yewwell, Nottingham NG3 4GS is booked",
    ],
)
def test_the_house_number_must_be_the_one_before_the_street(scan: Scanner, text: str) -> None:
    """A 2 elsewhere nearby does not make 3 Yewwell Grove the protected 2 Yewwell Grove."""
    assert ("address", "DA-3") not in kinds(scan(text))
    assert ("postcode", "DA-3") in kinds(scan(text))


@pytest.mark.parametrize(
    "phone",
    [
        "07700 900461",
        "07700900461",
        "+44 7700 900461",
        "+44 (0)7700 900461",
        "0044 7700 900461",
        "07700-900-461",
        "07700.900.461",
        "(07700) 900461",
        "+447700900461",
        "077 00 90 04 61",
    ],
)
def test_phone_formats_are_found(scan: Scanner, phone: str) -> None:
    """Ten common ways of writing the same mobile number."""
    assert ("phone", "DA-1") in kinds(scan(f"ring her on {phone} after six"))


def test_phone_next_to_another_number_is_found(scan: Scanner) -> None:
    """Two numbers in a row are split apart before matching."""
    assert ("phone", "DA-1") in kinds(scan("tel 0113 496 0000 07700 900461"))


def test_other_phone_numbers_are_not_matched(scan: Scanner) -> None:
    """A number one digit off is someone else's."""
    assert set() == kinds(scan("ring 07700 900462"))


@pytest.mark.parametrize(
    "email",
    [
        "sarah.w.safe@example.net",
        "Sarah.W.Safe@EXAMPLE.net",
        "sarah.w.safe+x@example.net",
        "swhit@gmail.com",
        "S.Whit+home@googlemail.com",
    ],
)
def test_email_forms_are_found(scan: Scanner, email: str) -> None:
    """Case, plus-tags and (for Gmail) dots do not hide an address."""
    assert ("email", "DA-1") in kinds(scan(f"write to <{email}>."))


@pytest.mark.parametrize(
    ("text", "confidence"),
    [
        ("Sarah Whitmore called", "high"),
        ("Sarah Jane Whitmore called", "high"),
        ("SARAH WHITMORE called", "high"),
        ("Whitmore, Sarah called", "high"),
        ("WHITMORE Sarah called", "high"),
        ("Sally Whitmore called", "high"),
        ("Nell Langford called", "high"),
        ("Kate Langford called", "high"),
        ("Sarah Whimtore called", "medium"),
        ("Jane Whitmore called", "high"),
        ("Sarah Davies called", "high"),
        ("S. Whitmore called", "medium"),
        ("S J Whitmore called", "medium"),
        ("Sarah Whitmoore called", "medium"),
        ("Sarah Whitmre called", "medium"),
    ],
)
def test_name_forms_are_found(scan: Scanner, text: str, confidence: str) -> None:
    """Order, caps, nicknames, middle names, aliases, initials and typos."""
    names = only(scan(text), "name")
    assert [confidence] == [f.confidence.value for f in names]


@pytest.mark.parametrize(
    "text",
    [
        "Mr Whitmore called",
        "Whitmore's letter",
        "Mark Whitmore's letter",
        "Sarah called",
        "Sarah met the Whitmore family",
        "Sarah Whitby called",
    ],
)
def test_surname_or_first_name_alone_is_not_a_name_finding(scan: Scanner, text: str) -> None:
    """A name finding needs a first name (or initial) and the surname together."""
    assert [] == only(scan(text), "name")


@pytest.mark.parametrize(
    "dob",
    [
        "02/09/2016",
        "2.9.16",
        "2016-09-02",
        "2 September 2016",
        "2nd Sept 2016",
        "September 2, 2016",
        "2nd of september   2016",
        "ref-02-09-16",  # the dash before the day is not the date's first separator
        "1/02/09/2016",
        "02-09-2016.",
    ],
)
def test_childs_date_of_birth_is_found_in_every_form(scan: Scanner, dob: str) -> None:
    """A child's name with a date of birth gives both findings."""
    result = scan(f"Oliver Whitmore (born {dob}) is at school")
    assert {("name", "DA-1"), ("date_of_birth", "DA-1")} <= kinds(result)


@pytest.mark.parametrize(
    "text",
    ["ref 102/09/2016", "12016-09-02", "02/09/20161", "x2 September 2016", "12 September 20161"],
)
def test_digits_run_into_a_date_are_not_a_date_of_birth(scan: Scanner, text: str) -> None:
    """A date inside a longer number or word is not a date."""
    assert [] == only(scan(f"Oliver Whitmore: {text}"), "date_of_birth")


def test_protected_location_is_found_with_its_id(scan: Scanner) -> None:
    """A refuge address is a protected_location finding whose case is the location id."""
    assert ("protected_location", "refuge-north") in kinds(scan("drop at 12 Example St, Sheffield"))


def test_protected_location_postcode_alone_is_a_weaker_finding(scan: Scanner) -> None:
    """The refuge's postcode without the street is still reported, at medium confidence."""
    (finding,) = only(scan("near S1 2AB"), "protected_location")
    assert "medium" == finding.confidence.value


def test_findings_never_carry_the_value(scan: Scanner) -> None:
    """Findings hold kind, case, location, confidence and score only."""
    result = scan("Sarah Whitmore, 27 Kingfisher Road, 07700 900461")
    text = repr(result.findings)
    for value in ("Sarah", "Whitmore", "Kingfisher", "07700", "900461"):
        assert value not in text


def test_evidence_spans_point_at_the_matched_text(scan: Scanner) -> None:
    """Evidence, kept apart, gives reviewers the exact span in the original text."""
    text = "Dear all, SALLY Whitmore lives at 27 KINGFISHER Rd now."
    result = scan(text)
    spans = {e.text for e in result.evidence}
    assert {"SALLY Whitmore", "27 KINGFISHER Rd"} == spans
    for e in result.evidence:
        assert text[e.start : e.end] == e.text


def test_findings_keep_their_location(scan: Scanner) -> None:
    """The segment's location is the finding's location."""
    result = scan("27 Kingfisher Road", location="attachment:bundle.zip/report.docx")
    assert ["attachment:bundle.zip/report.docx"] == [f.location for f in result.findings]


def test_ordinary_business_text_has_no_findings(scan: Scanner) -> None:
    """Numbers, dates and names that are not in the register find nothing."""
    text = (
        "Meeting on 17/05/1988 at 27 Kingfisher Close with Sarah Smith; call 0113 496 0000 "
        "or mail sarah.smith@example.net. Invoice 1234, Park Road 9, LS6 3QX."
    )
    assert set() == kinds(scan(text))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "a", "sally whitmore, 27 kingfisher rd_x", "it's o'neil\tthe-3rd\n", "café rd 3"],
)
def test_token_bounds_are_the_token_regex_spans(text: str) -> None:
    """The byte-table spans (ASCII) and the regex spans (other text) agree with TOKEN_RE."""
    spans = [m.span() for m in normalise.TOKEN_RE.finditer(text)]
    assert ([s for s, _ in spans], [e for _, e in spans]) == token_bounds(text)
