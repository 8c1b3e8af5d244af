"""Recipients: restricted contacts are recognised by address, name and lookalikes."""

import pytest

from tests.unit.match.conftest import Scanner, kinds, only


@pytest.mark.parametrize(
    "address",
    ["mark.whitmore@example.com", "Mark.Whitmore@EXAMPLE.COM", "mark.whitmore+court@example.com"],
)
def test_restricted_address_in_any_case_or_plus_tag_is_restricted(
    scan: Scanner, address: str
) -> None:
    """Exact canonical address: a restricted recipient of that case, high confidence."""
    result = scan("hello", [address])
    assert {("restricted_recipient", "DA-1")} == kinds(result)
    assert frozenset({"DA-1"}) == result.recipients[0].restricted_cases


@pytest.mark.parametrize(
    "display", ["Mark Whitmore", "WHITMORE, Mark", "Marky Whitmore", "Mr Mark Whitmore"]
)
def test_restricted_name_with_any_address_is_probable(scan: Scanner, display: str) -> None:
    """The restricted person's name or alias as display name: probably restricted."""
    result = scan("hello", [(display, "mw.new@elsewhere.example")])
    assert {("probable_restricted_recipient", "DA-1")} == kinds(result)
    assert frozenset({"DA-1"}) == result.recipients[0].probable_cases


@pytest.mark.parametrize(
    "address",
    [
        "mark.whitmor@example.com",
        "mark.whitmore1@example.com",
        "mark.whitmore@examp1e.com",
        "mark.whitmore@exarnple.com",
        "mark.whitmore@example.co.uk",
        "mark.witmore@example.com",
    ],
)
def test_near_identical_address_is_probable(scan: Scanner, address: str) -> None:
    """One edit in the mailbox, or the same mailbox at a lookalike domain."""
    result = scan("hello", [address])
    assert {("probable_restricted_recipient", "DA-1")} == kinds(result)


@pytest.mark.parametrize(
    "address", ["jason.ashfield@gmai1.com", "jasonashfield@gmall.com", "jason.ashfield@gmail.co"]
)
def test_gmail_mailbox_at_a_lookalike_domain_is_probable(scan: Scanner, address: str) -> None:
    """Dots do not count in a Gmail mailbox, so they do not hide it at a lookalike domain."""
    assert {("probable_restricted_recipient", "DA-3")} == kinds(scan("hi", [address]))


@pytest.mark.parametrize(
    "address",
    [
        "mark.smith@example.com",
        "whitmore@example.com",
        "mark.whitmore@other.example",
        "sarah.w.safe@example.net",
    ],
)
def test_unrelated_addresses_are_not_restricted(scan: Scanner, address: str) -> None:
    """Other people at the same domain, or the same surname, are not restricted contacts."""
    result = scan("hello", [address])
    assert set() == kinds(result)
    assert not result.recipients[0].restricted_cases
    assert not result.recipients[0].probable_cases


def test_allowed_recipient_is_allowed_for_its_case(scan: Scanner) -> None:
    """The caseworker may receive case DA-1's details."""
    result = scan("hello", ["Caseworker@Council.Example.gov.uk"])
    assert frozenset({"DA-1"}) == result.recipients[0].allowed_cases


def test_internal_domains_include_subdomains(scan: Scanner) -> None:
    """Recipients in an internal domain or its subdomains are internal."""
    result = scan(
        "hi",
        [
            "a@council.example.gov.uk",
            "b@housing.council.example.gov.uk",
            "c@notcouncil.example.gov.uk",
        ],
        internal=["council.example.gov.uk"],
    )
    assert [True, True, False] == [r.internal for r in result.recipients]


def test_restricted_finding_names_the_recipient_for_logs_not_content(scan: Scanner) -> None:
    """A recipient finding knows its recipient and its location (envelope)."""
    (finding,) = only(scan("hi", ["mark.whitmore@example.com"]), "restricted_recipient")
    assert ("envelope", "mark.whitmore@example.com") == (finding.location, finding.recipient)


def test_one_recipient_listed_twice_is_classified_once(scan: Scanner) -> None:
    """The same canonical address in the envelope and in To is one recipient."""
    result = scan("hi", ["mark.whitmore@example.com", ("Mark", "MARK.WHITMORE@example.com")])
    assert 1 == len(result.recipients)


def test_a_recipient_finding_has_the_address_as_its_evidence(scan: Scanner) -> None:
    """Reviewers see which recipient is restricted: the evidence is that address."""
    result = scan("hi", ["team@council.example.gov.uk", "mark.whitmore@example.com"])
    (evidence,) = [e for e in result.evidence if e.location == "envelope"]
    assert (0, "mark.whitmore@example.com") == (evidence.finding_index, evidence.text)
