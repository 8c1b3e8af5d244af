"""Phones, emails and dates of birth however staff write them (issue 9, item 5).

Each property test draws a detail from how it is defined (the Ofcom number ranges,
RFC 5322 addresses, calendar dates), writes it in a random variant, and checks the
finder's probes hold the detail's key; its benign twin (another number, another
date, the digits of a reference alone) must not.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.match import content as C
from gateway.match import keys as K
from gateway.register import normalise as N
from tests.unit.match.conftest import Scanner, kinds

# --- phones ---------------------------------------------------------------------------

# Ofcom ranges: area codes of 2 to 5 digits after 01 (and 02), then 03, 07 and 08.
_RANGES = {
    "01-area3": ("01", 2, 7),  # 0113 496 0000
    "01-area4": ("01", 3, 6),  # 01632 960000
    "01-area5": ("01", 4, 5),  # 016977 12345 (5-digit area code)
    "02": ("02", 1, 8),  # 020 7946 0000, 029 2049 6631
    "03": ("03", 2, 7),
    "07": ("07", 3, 6),
    "08": ("08", 2, 7),
}


@st.composite
def uk_numbers(draw: st.DrawFn) -> tuple[str, int]:
    """A national number (0 + 10 digits) and where its area code ends."""
    prefix, area, rest = draw(st.sampled_from(sorted(_RANGES.values())))
    digits = draw(st.text("0123456789", min_size=area + rest, max_size=area + rest))
    return prefix + digits, len(prefix) + area


@st.composite
def written_phones(draw: st.DrawFn, national: str, cut: int) -> str:
    """``national`` as people write it: grouping, separators, prefixes, brackets."""
    sep = draw(st.sampled_from([" ", "", "-", ".", "  ", "\n", " - ", "\n> "]))
    area, local = national[:cut], national[cut:]
    split = draw(st.integers(0, len(local)))
    groups = [g for g in (local[:split], local[split:]) if g]
    prefix = draw(st.sampled_from(["0", "(0", "+44 ", "+44 (0)", "+44", "0044 ", "+44-"]))
    head = area[1:]
    if prefix == "0":
        first = area
    elif prefix == "(0":
        first = f"({area})"
    else:
        first = prefix + head
    return sep.join([first, *groups])


@st.composite
def surroundings(draw: st.DrawFn) -> tuple[str, str]:
    """What may stand right before and after a phone: words, a reference number."""
    before = draw(
        st.sampled_from(
            ["call ", "Ref R480931 ", "case 2231/", "tel:", "Tel.", "ref 12345 ", "(", "mob: "]
        )
    )
    after = draw(st.sampled_from(["", " today", " ext 204", " / 0113 496 0000", ")", ", ref 77"]))
    return before, after


def phone_keys(text: str) -> set[int]:
    """Keys of every phone probe in ``text``."""
    return {p.key for p in C._phones(N.fold(text), 0)}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), number=uk_numbers())
def test_a_uk_number_in_any_written_form_is_probed(
    data: st.DataObject, number: tuple[str, int]
) -> None:
    """Any range, grouping, separator, +44/0044/(0) prefix or neighbouring reference
    number still gives the number's key."""
    national, cut = number
    before, after = data.draw(surroundings())
    written = data.draw(written_phones(national, cut))
    assert K.phone_key("44" + national[1:]) in phone_keys(f"{before}{written}{after}")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), number=uk_numbers(), position=st.integers(1, 10))
def test_another_number_written_the_same_way_is_not_the_phone(
    data: st.DataObject, number: tuple[str, int], position: int
) -> None:
    """The same rendering with one digit changed, and the digits without the trunk 0
    as a reference, never give the protected number's key."""
    national, cut = number
    other = national[:position] + str((int(national[position]) + 1) % 10) + national[position + 1 :]
    before, after = data.draw(surroundings())
    written = data.draw(written_phones(other, cut))
    key = K.phone_key("44" + national[1:])
    assert key not in phone_keys(f"{before}{written}{after}")
    assert key not in phone_keys(f"Ref R{national[1:]} and {national[1:]}")


@pytest.mark.parametrize(
    "text",
    [
        "Ref R480931 07700 900461",
        "case 2231/07700900461",
        "tel:07700900461",
        "(07700) 900461",
        "+44 (0) 7700 900 461",
        "0044 7700 900461",
        "07700\n900461",
        "> 07700 900\n> 461",
        "tel07700900461",
        "44 7700 900461",
    ],
)
def test_phone_next_to_other_digits_is_found(scan: Scanner, text: str) -> None:
    """Written next to references, in links and across a line break, the phone is found."""
    assert ("phone", "DA-1") in kinds(scan(f"Please note: {text} thanks"))


@pytest.mark.parametrize("text", ["Ref 7700900461", "ref 077009004612", "1077 009 004 61"])
def test_digits_of_the_phone_inside_other_numbers_are_not_the_phone(
    scan: Scanner, text: str
) -> None:
    """The phone's digits as part of a longer number, or without the trunk 0, are not it."""
    assert ("phone", "DA-1") not in kinds(scan(text))


def test_international_numbers_follow_their_country_plan() -> None:
    """A + number is a candidate only with a length its country code allows."""
    assert "33612345678" == N.phone_from_digits("33612345678", plus=True)
    assert N.phone_from_digits("3361234567899", plus=True) is None
    assert "447700900461" == N.phone_from_digits("00447700900461", plus=False)
    assert N.phone_from_digits("0770090046", plus=False) is not None  # 9-digit NSN exists
    assert N.phone_from_digits("077009004", plus=False) is None


# --- emails ---------------------------------------------------------------------------

_ATS = ["@", " @ ", " at ", " AT ", "[at]", " [at] ", "(at)", " (at) ", "{at}", " <at> ", "%40"]
_DOTS = [".", " dot ", " DOT ", "[dot]", " [dot] ", "(dot)", " (dot) ", "{dot}", " .", ". "]
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def emails(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Mailbox name parts and domain labels of an address."""
    local = draw(st.lists(_WORD, min_size=1, max_size=3))
    domain = draw(st.lists(_WORD.filter(lambda w: w not in ("at", "dot")), min_size=2, max_size=3))
    return [w for w in local if w not in ("at", "dot")] or ["x"], domain


def email_keys(text: str) -> set[int]:
    """Keys of every email probe in ``text``."""
    return {p.key for p in C._emails(N.fold(text), 0)}


@settings(max_examples=200, deadline=None)
@given(
    address=emails(),
    at=st.sampled_from(_ATS),
    dot=st.sampled_from(_DOTS),
    around=st.sampled_from([("write to ", ". Thanks"), ("mailto:", "?subject=hi"), ("", "")]),
)
def test_a_written_out_email_is_probed(
    address: tuple[list[str], list[str]], at: str, dot: str, around: tuple[str, str]
) -> None:
    """``@`` and dots written as words, bracketed, spaced or percent-encoded still give
    the canonical address's key."""
    local, domain = address
    written = dot.join(local) + at + dot.join(domain)
    canonical = N.canonical_email(".".join(local) + "@" + ".".join(domain))
    assert K.email_key(canonical) in email_keys(around[0] + written + around[1])


@pytest.mark.parametrize(
    "text",
    [
        "sarah dot w dot safe at example dot net",
        "sarah.w.safe [at] example [dot] net",
        "sarah.w.safe (at) example.net",
        "sarah.w.safe {at} example.net",
        "SARAH.W.SAFE AT EXAMPLE.NET",
        "sarah.w.safe @ example.net",
        "sarah.w.safe@example .net",
        '<a href="mailto:sarah.w.safe@example.net?subject=Visit">here</a>',
        "mailto:sarah.w.safe%40example.net",
        "mailto:%73arah.w.safe@example.net",
    ],
)
def test_email_forms_written_out_are_found(scan: Scanner, text: str) -> None:
    """Every written-out form of the protected address is an email finding."""
    assert ("email", "DA-1") in kinds(scan(f"You can reach her: {text}. Regards"))


@pytest.mark.parametrize(
    "text",
    [
        "meet at the station dot com at noon",
        "sarah at example dot net",
        "w.safe at example dot org",
        "we met at example.net. safe journey",
    ],
)
def test_words_like_an_email_that_spell_another_address_are_not_found(
    scan: Scanner, text: str
) -> None:
    """Prose with "at" and "dot", or another address, is no email finding."""
    assert ("email", "DA-1") not in kinds(scan(text))


# --- dates ----------------------------------------------------------------------------

_ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
_DATE_FORMS = [
    lambda d: d.strftime("%d.%m.%y"),
    lambda d: f"{d.day}.{d.month}.{d:%y}",
    lambda d: d.strftime("%d %b %y"),
    lambda d: d.strftime("%d-%b-%y"),
    lambda d: d.strftime("%d %b '%y"),
    lambda d: d.strftime("%Y/%m/%d"),
    lambda d: f"{d.day}-{_ROMAN[d.month - 1].upper()}-{d.year}",
    lambda d: f"{d.day}.{_ROMAN[d.month - 1]}.{d.year}",
    lambda d: f"{d.day}{_suffix(d.day)} {d:%B}, {d.year}",
    lambda d: f"{d:%B} {d.day}{_suffix(d.day)}, '{d:%y}",
    lambda d: f"{d:%b} {d.day}, {d.year}",
    lambda d: f"{d.day}{_suffix(d.day)} day of {d:%B} {d.year}",
    lambda d: f"{d.day}/{d:%b}/{d.year}",
    lambda d: d.strftime("%d/%m/%Y"),
]


def _suffix(day: int) -> str:
    if day in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def date_keys(text: str) -> set[int]:
    """Keys of every date probe in ``text`` (numeric and written)."""
    folded = N.fold(text)
    words = set(N.folded_tokens(folded))
    found = list(C._dates(folded, 0))
    found += C._written_dates(folded, 0, frozenset(words & N.MONTH_WORDS))
    return {p.key for p in found}


# Two-digit years stand for the last hundred years, as staff mean them.
_BIRTHDAYS = st.dates(dt.date(dt.date.today().year - 98, 1, 1), dt.date.today())


@settings(max_examples=200, deadline=None)
@given(
    day=_BIRTHDAYS,
    form=st.sampled_from(_DATE_FORMS),
    before=st.sampled_from(["DOB ", "(born ", "dob:"]),
)
def test_a_date_of_birth_in_any_written_form_is_probed(
    day: dt.date, form: object, before: str
) -> None:
    """Two-digit years, month words and abbreviations, Roman months, ordinals with
    commas and apostrophes all give the date's key; the next day's key is not given."""
    written = form(day)  # type: ignore[operator]
    keys = date_keys(f"{before}{written}) at school")
    assert K.dob_key(day.isoformat()) in keys
    assert K.dob_key((day + dt.timedelta(days=1)).isoformat()) not in keys


@pytest.mark.parametrize(
    "text",
    ["17.04.88", "17 Apr 88", "1988/04/17", "17-IV-1988", "17th April, 1988", "April 17th, '88"],
)
def test_date_forms_are_parsed_to_the_same_day(text: str) -> None:
    """Each added written form is the same day for the register and the text."""
    assert dt.date(1988, 4, 17) == N.parse_date(text)


@pytest.mark.parametrize("text", ["may 12 13:00", "17 apr 88:30", "17-iv-19888"])
def test_times_and_long_numbers_are_not_written_dates(text: str) -> None:
    """A time after a month word, or digits running on, is not a date."""
    assert set() == {p.what for p in C._dates(text, 0)} | {
        p.what for p in C._written_dates(text, 0, frozenset({"may", "apr"}))
    }
