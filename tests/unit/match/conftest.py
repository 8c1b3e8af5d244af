"""An index of a small register with every kind of detail, built once per session."""

from collections.abc import Sequence

import pytest

from gateway.findings import Finding, Match
from gateway.match import Addressee, Index, build_index, match
from gateway.register import parse_register
from gateway.segments import Segment

REGISTER = """
version: 1
cases:
  - id: DA-1
    protected:
      - name: Sarah Jane Whitmore
        aliases: [Sarah Davies]
        date_of_birth: 1988-04-17
        addresses: ["Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"]
        phones: ["07700 900461"]
        emails: [sarah.w.safe@example.net, s.whit@gmail.com]
      - name: Oliver Whitmore
        date_of_birth: 2016-09-02
    restricted:
      - name: Mark Whitmore
        aliases: [Marky Whitmore]
        emails: [mark.whitmore@example.com]
    allowed_recipients: [caseworker@council.example.gov.uk]
  - id: DA-2
    protected:
      - name: Joanna Blackwood
        addresses: ["14 St John's Wood Rd, London NW8 7HA", "Rue de la Paix 12, 75002 Paris"]
    restricted:
      - name: Peter Blackwood
        emails: [p.blackwood@example.org]
  - id: DA-3
    protected:
      - name: Eleanor Catherine Langford
        addresses: ["Keizersgracht 221, 1016 DV Amsterdam, Netherlands",
                    "Hauptstraße 12, 10115 Berlin, Germany", "45 Rue des Lilas, 69003 Lyon, France",
                    "2 Yewwell Gro, Lenton, Nottingham, NG3 4GS"]
    restricted:
      - name: Jason Ashfield
        emails: [jason.ashfield@gmail.com]
protected_locations:
  - id: refuge-north
    label: Refuge
    address: 12 Example Street, Sheffield, S1 2AB
"""


@pytest.fixture(scope="session")
def index() -> Index:
    register = parse_register(REGISTER, "test.yaml")
    return build_index(register.cases, register.protected_locations)


class Scanner:
    """Runs the matcher on bare text: one body segment and the given recipients."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def __call__(
        self,
        text: str,
        rcpts: Sequence[str | tuple[str, str]] = (),
        location: str = "body",
        internal: Sequence[str] = (),
    ) -> Match:
        addressees = [
            Addressee(r, "envelope") if isinstance(r, str) else Addressee(r[1], "header:to", r[0])
            for r in rcpts
        ]
        return match(self.index, [Segment(location, text)], addressees, internal)


@pytest.fixture
def scan(index: Index) -> Scanner:
    return Scanner(index)


def kinds(result: Match) -> set[tuple[str, str | None]]:
    """(kind, case) of every finding."""
    return {(f.kind.value, f.case) for f in result.findings}


def only(result: Match, kind: str) -> list[Finding]:
    return [f for f in result.findings if f.kind.value == kind]
