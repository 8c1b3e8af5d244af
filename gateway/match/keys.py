"""Canonical register values -> anchor keys, shared by index build and text scan.

A key is the built-in hash of a small tuple, so both sides must build the tuple the
same way: that is this module's only job.  Hashes are per process: the index is built
in the process that uses it, or in one with the same hash seed (``gateway.workers``).
Typo tolerance uses the pigeonhole rule: one edit leaves either the first or the
second half of a word intact, so a word is indexed under both halves and a text word
is probed with the halves of every length it could have had before the edit.  A swap
of the two letters either side of the cut breaks both halves, so that one swap is
undone before probing.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum

from gateway.register.confusables import skeleton


class Code(IntEnum):
    """What a posting points at."""

    NAME = 1  # protected person's name form; detail: 0 full, 1 nickname/alias, 2 initial
    NAME_TYPO = 2  # protected person's first name with one half of the surname
    ADDRESS = 3  # house number + street + type (detail: address index)
    ADDRESS_TYPO = 4
    POSTCODE = 5
    PHONE = 6
    EMAIL = 7
    DOB = 8
    GENERIC = 9  # first words of an address with no UK street line
    RESTRICTED = 10  # restricted contact's canonical email (detail: email index)
    RESTRICTED_NAME = 11
    RESTRICTED_NEAR = 12
    ALLOWED = 13
    STREET = 14  # street name + descriptor, any number (detail: address index)


def name_key(given: str, surname: str) -> int:
    return hash(("N", given, surname))


def _halves(tag: str, prefix: tuple[str, ...], word: str) -> tuple[int, int]:
    """Index side: ``word``'s length and each of its halves (the length keeps short
    halves from matching every word that starts the same way)."""
    size, cut = len(word), len(word) // 2
    return (
        hash((tag + "P", *prefix, size, word[:cut])),
        hash((tag + "S", *prefix, size, word[cut:])),
    )


def name_half_keys(given: str, surname: str) -> tuple[int, int]:
    """The first name with each half of the surname."""
    return _halves("N", (given,), surname)


def address_key(house: str, kind: str, street: str) -> int:
    return hash(("A", house, kind, street))


def street_key(kind: str, street: str) -> int:
    """A protected street, for the forms that carry no number before it."""
    return hash(("S", kind, street))


def address_half_keys(house: str, kind: str, street: str) -> tuple[int, int]:
    return _halves("A", (house, kind), street)


def probe_halves(tag: str, prefix: tuple[str, ...], word: str) -> Iterator[int]:
    """Text side: keys of every half ``word`` may share with a word one edit away."""
    size = len(word)
    for length in (size - 1, size, size + 1):
        if length < 4:
            continue
        cut = length // 2
        yield hash((tag + "P", *prefix, length, word[:cut]))
        tail = length - cut
        if tail <= size:
            yield hash((tag + "S", *prefix, length, word[size - tail :]))
    if size >= 4:  # two letters swapped across the cut change both halves: swap them back
        cut = size // 2
        swapped = word[: cut - 1] + word[cut] + word[cut - 1] + word[cut + 1 :]
        yield hash((tag + "P", *prefix, size, swapped[:cut]))


def postcode_key(postcode: str) -> int:
    return hash(("C", postcode))


def phone_key(e164: str) -> int:
    return hash(("P", e164))


def email_key(canonical: str) -> int:
    return hash(("E", canonical))


def dob_key(iso: str) -> int:
    return hash(("D", iso))


def generic_key(word: str) -> int:
    """A distinctive word of an address's first line (abroad, or a house name)."""
    return hash(("G", word))


def restricted_key(canonical: str) -> int:
    return hash(("R", canonical))


def restricted_name_key(given: str, surname: str) -> int:
    return hash(("RN", given, surname))


def restricted_local_key(local: str) -> int:
    """Same mailbox name to the eye (dots ignored, as Gmail does; lookalike letters
    merged by their skeleton: ``rnark`` = ``mark``), any (lookalike) domain."""
    return hash(("RL", skeleton(local.replace(".", ""))))


def restricted_half_keys(domain: str, local: str) -> tuple[int, int]:
    """Halves of the mailbox name at a domain, lookalike domains merged: the text side
    probes with ``probe_halves("R", (skeleton(domain),), local)``."""
    return _halves("R", (skeleton(domain),), local)


def allowed_key(canonical: str) -> int:
    return hash(("AL", canonical))
