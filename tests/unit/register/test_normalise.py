"""Normalisation: the canonical forms both the register and message text reduce to."""

import datetime as dt
import random

import pytest
from email_validator import EmailNotValidError, validate_email

from gateway.register import address as A
from gateway.register import normalise as N


@pytest.mark.parametrize(
    "text",
    [
        "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT",
        "3/27 Kingfisher Rd, Leeds LS63QT",
        "27 Kingfisher Road, Flat 3, Leeds, ls6 3qt",
        "3 27 KINGFISHER RD\nLEEDS\nLS6 3QT",
        "Flat 3,\n27 Kingfisher Rd.,\nLeeds",
    ],
)
def test_every_flat_and_house_number_form_gives_the_same_parts(text: str) -> None:
    """Flat/house forms, case, punctuation and line breaks all reduce to one address."""
    form = A.parse_address(text)
    assert ("27", "3", "kingfisher", "road") == (form.house, form.flat, form.street, form.kind)


@pytest.mark.parametrize(
    ("abbrev", "full"),
    [
        ("Rd", "road"),
        ("St", "street"),
        ("Ave", "avenue"),
        ("Ln", "lane"),
        ("Dr", "drive"),
        ("Cl", "close"),
        ("Cres", "crescent"),
        ("Ct", "court"),
        ("Pl", "place"),
        ("Sq", "square"),
        ("Gdns", "gardens"),
        ("Terr", "terrace"),
        ("Gro", "grove"),
    ],
)
def test_street_type_abbreviations_map_to_one_spelling(abbrev: str, full: str) -> None:
    """``Rd`` and ``Road`` (and the other UK street types) give the same kind."""
    assert full == A.parse_address(f"4 Heron {abbrev}").kind
    assert full == A.parse_address(f"4 Heron {full.title()}").kind


def test_street_names_holding_a_type_word_keep_the_last_type() -> None:
    """``Park Hill Road`` is a road called Park Hill, not a hill called Park."""
    form = A.parse_address("9 Park Hill Road, York")
    assert ("parkhill", "road") == (form.street, form.kind)


def test_postcode_is_found_with_or_without_space_and_in_any_case() -> None:
    """Postcodes lose their space and case."""
    assert "LS63QT" == A.parse_address("x, ls63qt").postcode
    assert "LS63QT" == A.parse_address("x, LS6 3QT").postcode


def test_address_without_street_type_keeps_its_words() -> None:
    """A foreign or house-name address keeps its words for a looser match."""
    form = A.parse_address("Rue de la Paix 12, 75002 Paris")
    assert not form.has_street
    assert ("rue", "de", "la", "paix") == form.words[:4]


@pytest.mark.parametrize(
    "raw",
    [
        "07700 900461",
        "07700900461",
        "+44 7700 900461",
        "+44 (0)7700 900461",
        "0044 7700 900461",
        "(07700) 900 461",
        "07700-900-461",
    ],
)
def test_phone_formats_reduce_to_e164(raw: str) -> None:
    """Register phones go through phonenumbers; text phones through the fast digits rule."""
    assert "447700900461" == N.phone_e164(raw)
    assert "447700900461" == N.phone_digits_key(raw)


def test_an_impossible_phone_is_refused() -> None:
    """A too-short number is not a phone."""
    assert N.phone_e164("12") is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Sarah.W.Safe@Example.NET", "sarah.w.safe@example.net"),
        ("sarah.w.safe+news@example.net", "sarah.w.safe@example.net"),
        ("S.a.rah@googlemail.com", "sarah@gmail.com"),
        ("sarah+x@gmail.com", "sarah@gmail.com"),
    ],
)
def test_emails_lose_case_plus_tags_and_provider_dots(raw: str, canonical: str) -> None:
    """Canonical emails: lower case, no plus-tag, no dots where the provider ignores them."""
    assert canonical == N.canonical_email(raw)


def test_email_syntax_is_checked_without_dns() -> None:
    """A malformed address is refused; a well-formed one at an unknown domain is fine."""
    assert N.valid_email("a.b@nowhere.example")
    assert not N.valid_email("a.bnowhere.example")


@pytest.mark.parametrize(
    "text",
    [
        "1988-04-17",
        "17/04/1988",
        "17.4.1988",
        "17-04-88",
        "17 April 1988",
        "17th April 1988",
        "17th of April, 1988",
        "April 17, 1988",
        "17 Apr 1988",
    ],
)
def test_dates_in_numeric_day_first_and_written_forms(text: str) -> None:
    """Every date form a letter might use parses to the same day."""
    assert dt.date(1988, 4, 17) == N.parse_date(text)


def test_impossible_date_is_none() -> None:
    """Day 31 of April does not exist."""
    assert N.parse_date("31/04/1988") is None


@pytest.mark.parametrize(
    ("name", "given", "surname"),
    [
        ("Sarah Jane Whitmore", ("sarah", "jane"), "whitmore"),
        ("WHITMORE, Sarah", ("sarah",), "whitmore"),
        ("Mrs Sarah Whitmore", ("sarah",), "whitmore"),
        ("Dr. Zoë Smith-Jones", ("zoe", "smith"), "jones"),
    ],
)
def test_name_parts_handle_order_titles_case_and_accents(
    name: str, given: tuple[str, ...], surname: str
) -> None:
    """Surname-first, titles, all caps and accents are normalised."""
    parts = N.name_parts(name)
    assert parts is not None
    assert (given, surname) == (parts.given, parts.surname)


def test_given_forms_include_nicknames_both_ways() -> None:
    """Sarah is also Sally; Bill is also William."""
    assert "sally" in N.given_forms("sarah")
    assert "william" in N.given_forms("bill")


def test_fold_keeps_offsets_so_evidence_spans_line_up() -> None:
    """Folding never changes the length of a text."""
    text = "ZOË Straße İstanbul O\u2019Brien"
    assert len(text) == len(N.fold(text))


def test_fast_tokens_equal_regex_tokens_on_ascii() -> None:
    """The byte-table tokenizer splits exactly like the regex one."""
    text = "Flat 3/27 Kingfisher_Rd., O'Brien; tel:07700-900461 a@b.c"
    folded = N.fold(text)
    assert N.TOKEN_RE.findall(folded) == N.folded_tokens(folded)


_LOCALS = ["a", "b.c", "x_y", "o'neil", "..", ".a", "a.", "+tag", "-", "Z", "1", "!#$%&*", "=?"]
_LOCALS += ["{}", "|~^`", "a" * 64, "a" * 65, "é", "@", "", " ", '"q"', "\\", "(c)"]
_DOMAINS = ["example.com", "gmail.com", "ex-ample.co.uk", "-bad.com", "bad-.com", "a..b.com"]
_DOMAINS += ["localhost", "x.local", "x.test", "x.invalid", "x.onion", "x.arpa", "1.2.3.4"]
_DOMAINS += ["[1.2.3.4]", "xn--bcher-kva.example", "xn--zz.example", "bücher.de", "com", "x.123"]
_DOMAINS += ["a" * 63 + ".com", "a" * 64 + ".com", ".".join(["abcdefghij"] * 24) + ".com"]
_DOMAINS += ["EXAMPLE.COM", "ex_ample.com", "example.com.", ""]


def test_email_check_by_parts_agrees_with_the_validator_on_whole_addresses() -> None:
    """The fast path (mailbox name and domain checked apart, each domain once) says
    what email-validator says of the whole address, over awkward combinations."""
    seed = random.randrange(2**32)  # noqa: S311 - test inputs, not secrets
    rng = random.Random(seed)  # noqa: S311
    differ, valid = [], 0
    for _ in range(4000):
        local = "".join(rng.choice(_LOCALS) for _ in range(rng.randint(0, 3)))
        value = local + ("@" if rng.random() < 0.95 else "") + rng.choice(_DOMAINS)
        if rng.random() < 0.05:
            value += "@" + rng.choice(_DOMAINS)
        try:
            validate_email(value, check_deliverability=False)
            expected = True
        except EmailNotValidError:
            expected = False
        valid += expected
        if N.valid_email(value) != expected:
            differ.append(value)
    assert [] == differ, f"seed {seed}"
    assert valid > 100, "the mix should hold valid addresses too"
