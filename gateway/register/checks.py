"""A register that loads -> ``Concern``s: what in it is legal but probably not meant.

The register loads and the gateway uses it as it is; these are the places where it
would protect less than its author thinks:

- ``protects-nothing``: a case with no restricted contact and no protected address,
  phone or email.  Names and birthdays are held only on their way to a restricted
  contact, and everything else needs an address, phone or email, so no message is
  ever held because of this case (often a mapping that missed columns).
- ``no-restricted-contact``: a case without a restricted contact (but with something
  to protect): only mail to outside recipients is checked for it.
- ``restricted-allowed``: an allowed recipient of a case who is one of its restricted
  contacts (their email, compared as the matcher compares emails).
- ``no-postcode``: an address (of a protected person, or a protected location) with no
  UK postcode in it: it is found by its street and town only, not by its postcode.

Concerns name a path in the register, the case (or location) id and the field, never a
value: they are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gateway.register import normalise
from gateway.register.address import has_postcode
from gateway.register.model import Case, Register
from gateway.yamlsource import Loc, dotted


@dataclass(frozen=True)
class Concern:
    """One warning: its kind, where (a register path), the case id, the field, what."""

    kind: str
    loc: Loc
    case: str
    field: str
    text: str


def check_register(register: Register) -> list[Concern]:
    """Every concern about ``register``, case by case in file order, then its locations."""
    out: list[Concern] = []
    for index, case in enumerate(register.cases):
        out += _case_concerns(index, case)
    for index, location in enumerate(register.protected_locations):
        if not has_postcode(location.address):
            loc = ("protected_locations", index, "address")
            out.append(Concern("no-postcode", loc, location.id, "address", _NO_POSTCODE))
    return out


_NO_POSTCODE = "no UK postcode: found by its street and town only"


def _case_concerns(index: int, case: Case) -> Iterator[Concern]:
    at: Loc = ("cases", index)
    details = any(p.addresses or p.phones or p.emails for p in case.protected)
    if not case.restricted and not details:
        text = (
            "protects nothing: no restricted contact, and no protected address, phone or "
            "email, so no message is ever held for this case"
        )
        yield Concern("protects-nothing", at, case.id, "protected", text)
    elif not case.restricted:
        text = "no restricted contact: only mail to outside recipients is checked for this case"
        yield Concern("no-restricted-contact", at, case.id, "restricted", text)
    yield from _restricted_allowed(at, case)
    for p, person in enumerate(case.protected):
        for a, address in enumerate(person.addresses):
            if not has_postcode(address):
                loc = (*at, "protected", p, "addresses", a)
                yield Concern("no-postcode", loc, case.id, dotted(loc[2:]), _NO_POSTCODE)


def _restricted_allowed(at: Loc, case: Case) -> Iterator[Concern]:
    restricted = {
        normalise.canonical_email(email): r
        for r, contact in enumerate(case.restricted)
        for email in contact.emails
    }
    for k, email in enumerate(case.allowed_recipients):
        r = restricted.get(normalise.canonical_email(email))
        if r is not None:
            text = f"is an email of restricted contact restricted[{r}]"
            loc = (*at, "allowed_recipients", k)
            yield Concern("restricted-allowed", loc, case.id, f"allowed_recipients[{k}]", text)
