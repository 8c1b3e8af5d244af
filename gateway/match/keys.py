"""Canonical register values -> anchor keys, shared by index build and text scan.

A key is SipHash-2-4 (``siphashc``, a C extension) of a small string under a secret
128-bit key: stable across processes and restarts, so a built index can be kept on
disk and used by any process that has its key, yet nobody without the key can tell
which names or addresses an index holds.  The process hashes under one key at a time
(``use_key``): by default a random one (an index built and used in one process, as in
tests and ``gateway scan``); the gateway uses one derived from the master key, and
an index brings its key with it to the process that uses it.  A key costs about
what a built-in ``hash`` of a tuple did (~130-160 ns a call against ~100-180 ns;
keyed BLAKE2b through hashlib ~640 ns, five times more), so the scan keeps its
speed; ``probe_halves``, a hundred keys a message, also keeps its answers per process.

Both sides must build the string the same way: that is this module's other job.
Typo tolerance uses the pigeonhole rule: one edit leaves either the first or the
second half of a word intact, so a word is indexed under both halves and a text word
is probed with the halves of every length it could have had before the edit.  A swap
of the two letters either side of the cut breaks both halves, so that one swap is
undone before probing.
"""

from __future__ import annotations

import secrets
from enum import IntEnum
from itertools import repeat

from siphashc import siphash

from gateway.register.confusables import skeleton

#: bytes in a hashing key (SipHash's key size)
KEY_BYTES = 16
#: how keys are made; an index made another way is never used (``workers``, ``stored``)
FORMAT = 2
_SEP = "\x1f"  # between the parts of a key's string: no register value or word has it

_key = secrets.token_bytes(KEY_BYTES)
_MEMO_SIZE = 1 << 16
_memo: dict[tuple[str, tuple[str, ...], str], list[int]] = {}  # probe_halves' answers


def use_key(key: bytes) -> None:
    """Hash under ``key`` from now on in this process."""
    global _key  # noqa: PLW0603 - one key per process, read on every hash
    if len(key) != KEY_BYTES:
        raise ValueError(f"an index key is {KEY_BYTES} bytes")
    _key = key
    _memo.clear()


def current_key() -> bytes:
    """The key this process hashes under."""
    return _key


def _h(text: str) -> int:
    """``text`` -> an unsigned 64-bit key (the UTF-8 of text from a message may hold a
    lone surrogate, which strict UTF-8 refuses)."""
    try:
        return siphash(_key, text)
    except UnicodeEncodeError:
        return siphash(_key, text.encode("utf-8", "surrogatepass"))


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
    return _h(f"N{_SEP}{given}{_SEP}{surname}")


def _half(tag: str, prefix: str, length: int, piece: str) -> int:
    """One half's key: ``tag`` says which half, ``prefix`` is the joined context (the
    same string as ``probe_halves`` makes)."""
    return _h(f"{tag}{_SEP}{prefix}{length}{_SEP}{piece}")


def _prefix(prefix: tuple[str, ...]) -> str:
    return "".join(part + _SEP for part in prefix)


def _halves(tag: str, prefix: tuple[str, ...], word: str) -> tuple[int, int]:
    """Index side: ``word``'s length and each of its halves (the length keeps short
    halves from matching every word that starts the same way)."""
    size, cut, joined = len(word), len(word) // 2, _prefix(prefix)
    return _half(tag + "P", joined, size, word[:cut]), _half(tag + "S", joined, size, word[cut:])


def name_half_keys(given: str, surname: str) -> tuple[int, int]:
    """The first name with each half of the surname."""
    return _halves("N", (given,), surname)


def address_key(house: str, kind: str, street: str) -> int:
    return _h(f"A{_SEP}{house}{_SEP}{kind}{_SEP}{street}")


def street_key(kind: str, street: str) -> int:
    """A protected street, for the forms that carry no number before it."""
    return _h(f"S{_SEP}{kind}{_SEP}{street}")


def address_half_keys(house: str, kind: str, street: str) -> tuple[int, int]:
    return _halves("A", (house, kind), street)


def probe_halves(tag: str, prefix: tuple[str, ...], word: str) -> list[int]:
    """Text side: keys of every half ``word`` may share with a word one edit away.

    The scan's hottest key (about 7 keys a call, 17 calls a message): the answers are
    kept per process (words near a given name recur from message to message), up to
    ``_MEMO_SIZE`` of them; a miss hashes its strings in one ``map`` in C."""
    probe = (tag, prefix, word)
    keys = _memo.get(probe)
    if keys is None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        keys = _memo[probe] = _probe_halves(tag, _prefix(prefix), word)
    return keys


def _probe_halves(tag: str, joined: str, word: str) -> list[int]:
    size = len(word)
    head, rear = f"{tag}P{_SEP}{joined}", f"{tag}S{_SEP}{joined}"
    texts = []
    for length in (size - 1, size, size + 1):
        if length < 4:
            continue
        cut = length // 2
        texts.append(f"{head}{length}{_SEP}{word[:cut]}")
        tail = length - cut
        if tail <= size:
            texts.append(f"{rear}{length}{_SEP}{word[size - tail :]}")
    if size >= 4:  # two letters swapped across the cut change both halves: swap them back
        cut = size // 2
        swapped = word[: cut - 1] + word[cut] + word[cut - 1] + word[cut + 1 :]
        texts.append(f"{head}{size}{_SEP}{swapped[:cut]}")
    try:
        return list(map(siphash, repeat(_key, len(texts)), texts))
    except UnicodeEncodeError:
        return [_h(text) for text in texts]


def postcode_key(postcode: str) -> int:
    return _h(f"C{_SEP}{postcode}")


def phone_key(e164: str) -> int:
    return _h(f"P{_SEP}{e164}")


def email_key(canonical: str) -> int:
    return _h(f"E{_SEP}{canonical}")


def dob_key(iso: str) -> int:
    return _h(f"D{_SEP}{iso}")


def generic_key(word: str) -> int:
    """A distinctive word of an address's first line (abroad, or a house name)."""
    return _h(f"G{_SEP}{word}")


def restricted_key(canonical: str) -> int:
    return _h(f"R{_SEP}{canonical}")


def restricted_name_key(given: str, surname: str) -> int:
    return _h(f"RN{_SEP}{given}{_SEP}{surname}")


def restricted_local_key(local: str) -> int:
    """Same mailbox name to the eye (dots ignored, as Gmail does; lookalike letters
    merged by their skeleton: ``rnark`` = ``mark``), any (lookalike) domain."""
    return _h(f"RL{_SEP}{skeleton(local.replace('.', ''))}")


def restricted_half_keys(domain: str, local: str) -> tuple[int, int]:
    """Halves of the mailbox name at a domain, lookalike domains merged: the text side
    probes with ``probe_halves("R", (skeleton(domain),), local)``."""
    return _halves("R", (skeleton(domain),), local)


def allowed_key(canonical: str) -> int:
    return _h(f"AL{_SEP}{canonical}")
