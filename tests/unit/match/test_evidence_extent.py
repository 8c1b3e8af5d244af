"""Evidence of an address is the whole address (flat, number, street, town, postcode),
not only the street line or the postcode that anchored the match."""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import pytest

from gateway.findings import Kind
from tests.unit.match.conftest import Scanner


def _address_evidence(scan: Scanner, text: str, kind: Kind = Kind.ADDRESS) -> list[str]:
    result = scan(text)
    numbers = {n for n, f in enumerate(result.findings) if f.kind is kind}
    return [e.text for e in result.evidence if e.finding_index in numbers]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "She now lives at Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT.\n",
            "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT",
        ),
        (
            "Flat 3\n27 Kingfisher Road\nLeeds\nLS6 3QT\n",
            "Flat 3\n27 Kingfisher Road\nLeeds\nLS6 3QT",
        ),
        (
            "Send it to 14 St John's Wood Rd, London NW8 7HA today",
            "14 St John's Wood Rd, London NW8 7HA",
        ),
        (
            "Visit 2 Yewwell Gro, Lenton, Nottingham, NG3 4GS soon",
            "2 Yewwell Gro, Lenton, Nottingham, NG3 4GS",
        ),
    ],
)
def test_the_whole_address_is_evidence(scan: Scanner, text: str, expected: str) -> None:
    """Flat, number, street, town and postcode form one span."""
    assert [expected] == _address_evidence(scan, text)


def test_the_span_stops_at_words_of_no_address(scan: Scanner) -> None:
    """Words around the address that are not its own stay out of the span."""
    assert ["27 Kingfisher Road"] == _address_evidence(
        scan, "Leeds City Council wrote that 27 Kingfisher Road is now empty."
    )


def test_another_postcode_is_not_taken_in(scan: Scanner) -> None:
    """A postcode that is not the address's own ends the span before it."""
    found = _address_evidence(scan, "27 Kingfisher Road, Leeds, and also LS6 3QT")
    assert ["27 Kingfisher Road, Leeds"] == found


def test_a_protected_location_is_marked_whole(scan: Scanner) -> None:
    """A refuge's address is evidence as a whole too."""
    found = _address_evidence(
        scan, "Drop it at 12 Example Street, Sheffield, S1 2AB please", Kind.PROTECTED_LOCATION
    )
    assert ["12 Example Street, Sheffield, S1 2AB"] == found
