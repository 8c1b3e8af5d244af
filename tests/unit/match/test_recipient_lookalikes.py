"""Recipients: IDNA domains and lookalike letters make a near-identical address."""

from __future__ import annotations

import idna
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from gateway.match import Index
from gateway.register import normalise as N
from gateway.register.confusables import reading_table, skeleton
from tests.unit.match.conftest import Scanner, kinds

RESTRICTED = "mark.whitmore@example.com"
_TABLE = reading_table()
# Characters of other scripts (and compatibility forms) read as one ASCII letter.
_UNICODE = {
    target: [chr(code) for code, value in _TABLE.items() if value == target]
    for target in "abcdefghijklmnopqrstuvwxyz"
}
# The ASCII spellings a reader takes for another letter.
_ASCII = {"m": ["rn"], "w": ["vv"], "d": ["cl"], "o": ["0"], "l": ["1", "I", "i"], "i": ["l", "1"]}


def _recognised(result_kinds: set[tuple[str, str | None]]) -> bool:
    return bool(
        {("restricted_recipient", "DA-1"), ("probable_restricted_recipient", "DA-1")} & result_kinds
    )


@st.composite
def lookalike_addresses(draw: st.DrawFn) -> str:
    """The restricted address with one to three letters swapped for lookalikes."""
    chars = list(RESTRICTED)
    letters = [i for i, c in enumerate(chars) if c in _UNICODE or c in _ASCII]
    for index in draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3, unique=True)):
        char = chars[index]
        choices = _ASCII.get(char, []) + _UNICODE.get(char, [])
        chars[index] = draw(st.sampled_from(choices))
    address = "".join(chars)
    assume(address != RESTRICTED)
    return address


@settings(max_examples=200, deadline=None)
@given(address=lookalike_addresses())
def test_lookalike_letters_anywhere_in_the_address_are_recognised(
    index: Index, address: str
) -> None:
    """rn/m, vv/w, cl/d, 0/o, 1/l/i and letters of other scripts still reach the contact."""
    scan = Scanner(index)
    assert _recognised(kinds(scan("hello", [address])))


@settings(max_examples=100, deadline=None)
@given(address=lookalike_addresses())
def test_lookalike_domains_written_in_punycode_are_recognised(index: Index, address: str) -> None:
    """The same lookalike address with its domain as ``xn--`` labels is recognised."""
    scan = Scanner(index)
    local, _, domain = address.rpartition("@")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        assume(False)
        return
    # UTS 46 maps some lookalikes to other letters (lunate sigma to sigma): what the
    # recipient's client shows is the decoded domain, which must still look the same.
    assume(skeleton(idna.decode(ascii_domain, uts46=True)) == skeleton(domain))
    assert _recognised(kinds(scan("hello", [f"{local}@{ascii_domain}"])))


@pytest.mark.parametrize(
    "address",
    [
        "rnark.whitmore@exarnple.com",
        "mark.whitmore@\u0435\u0445ample.com",
        "mark.whitmore@xn--ample-ywe6i.com",
        "m\u03b1rk.whitm\u03bfre@example.com",
        "rnark.whitm0re@examp1e.com",
        "MARK.VVHITMORE@EXAMPLE.COM",
    ],
)
def test_named_lookalikes_are_probable_restricted_recipients(scan: Scanner, address: str) -> None:
    """The forms of the issue: each is probably the restricted contact."""
    assert {("probable_restricted_recipient", "DA-1")} == kinds(scan("hello", [address]))


_NAME = st.from_regex(r"[a-z]{2,9}\.[a-z]{3,10}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(local=_NAME, domain=st.sampled_from(["example.com", "exarnple.com", "example.org"]))
def test_other_people_even_at_a_lookalike_domain_are_not_the_contact(
    index: Index, local: str, domain: str
) -> None:
    """A mailbox more than one edit from the contact's, to the eye too, is someone else."""
    scan = Scanner(index)
    target = skeleton("markwhitmore")
    assume(Levenshtein.distance(skeleton(local.replace(".", "")), target) > 1)
    assume(Levenshtein.distance(local, "mark.whitmore") > 1)
    assert not _recognised(kinds(scan("hello", [f"{local}@{domain}"])))


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Mark.Whitmore@xn--ample-ywe6i.com", "mark.whitmore@\u0435\u0445ample.com"),
        ("a@XN--MNCHEN-3YA.de", "a@munchen.de"),
        ("a@xn--bad--.example", "a@xn--bad--.example"),
        ("a@example\u3002com", "a@example.com"),
    ],
)
def test_canonical_email_decodes_idna_domains(raw: str, canonical: str) -> None:
    """``xn--`` labels are decoded (UTS 46); an invalid label is kept as written."""
    assert canonical == N.canonical_email(raw)


def test_an_ascii_address_keeps_its_cheap_canonical_form() -> None:
    """No IDNA work for a plain ASCII domain: the canonical form is as before."""
    assert "sarah.w.safe@example.net" == N.canonical_email("Sarah.W.Safe+x@Example.NET")
