"""Register -> Index: anchor keys and compact records, built once per register version.

Memory is what limits a million-case register, so nothing here is a Python object
per key: keys (uint64, keyed hashes: ``keys``) and postings (int64) are two sorted
numpy arrays, and each case's verification data is one ``marshal`` record in a single
bytes blob.  Small Python sets of distinct tokens (given names, surnames) let the text
scan skip most words without touching the arrays.  An index holds the hashing key it
was built under and makes its process hash under it (``keys.use_key``).
"""

from __future__ import annotations

import functools
import marshal
from array import array
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.match import keys as K
from gateway.match.keys import Code
from gateway.register import address as A
from gateway.register import normalise as N
from gateway.register.model import Case, ProtectedLocation, ProtectedPerson, RestrictedContact
from gateway.register.ocrread import loose_skeleton

Postings = npt.NDArray[np.int64]
Keys = npt.NDArray[np.uint64]

# Posting layout: record index << 20 | code << 16 | person << 8 | detail; person and
# detail numbers above 255 share the last slot (no case has that many people).
_CODE_SHIFT, _PERSON_SHIFT = 16, 8


def unpack(value: int) -> tuple[int, Code, int, int]:
    """A posting -> (record number, code, person number, detail number)."""
    return (
        value >> 20,
        Code((value >> _CODE_SHIFT) & 0xF),
        (value >> _PERSON_SHIFT) & 0xFF,
        value & 0xFF,
    )


# A record, as stored with marshal:
#   ("C", case_id, persons, restricted_emails)   persons: ((surname, addresses), ...)
#   ("L", location_id, (address,))               address: AddressForm fields as a tuple
Record = tuple[Any, ...]


@dataclass
class _Builder:
    keys: array[int] = field(default_factory=lambda: array("Q"))
    values: array[int] = field(default_factory=lambda: array("q"))
    blob: bytearray = field(default_factory=bytearray)
    offsets: array[int] = field(default_factory=lambda: array("q"))
    given: set[str] = field(default_factory=set)
    first: set[str] = field(default_factory=set)
    surnames: set[str] = field(default_factory=set)
    generic: set[str] = field(default_factory=set)
    streets: set[str] = field(default_factory=set)

    def record(self, rec: Record) -> int:
        self.offsets.append(len(self.blob))
        self.blob += marshal.dumps(rec)
        return len(self.offsets) - 1


@dataclass(frozen=True)
class Part:
    """What one builder made: sortable arrays and records, numbered from zero."""

    keys: Keys
    values: Postings
    blob: bytes
    offsets: npt.NDArray[np.int64]
    given: frozenset[str]
    first: frozenset[str]
    surnames: frozenset[str]
    generic: frozenset[str]
    streets: frozenset[str]

    @classmethod
    def of(cls, b: _Builder) -> Part:
        return cls(
            np.frombuffer(b.keys, dtype=np.uint64),
            np.frombuffer(b.values, dtype=np.int64),
            bytes(b.blob),
            np.frombuffer(b.offsets, dtype=np.int64),
            frozenset(b.given),
            frozenset(b.first),
            frozenset(b.surnames),
            frozenset(b.generic),
            frozenset(b.streets),
        )


def merge(parts: Sequence[Part], hash_key: bytes | None = None) -> Index:
    """One index from parts built apart (under ``hash_key``, by default this process's
    key): record numbers and blob offsets are shifted."""
    values, offsets = [], []
    records = blob_size = 0
    for part in parts:
        values.append(part.values + (records << 20))
        offsets.append(part.offsets + blob_size)
        records += len(part.offsets)
        blob_size += len(part.blob)
    keys = np.concatenate([p.keys for p in parts])
    order = np.argsort(keys, kind="stable")
    return Index(
        keys[order],
        np.concatenate(values)[order],
        b"".join(p.blob for p in parts),
        np.concatenate(offsets),
        [
            frozenset().union(*(getattr(p, name) for p in parts))
            for name in ("given", "first", "surnames", "generic", "streets")
        ],
        K.current_key() if hash_key is None else hash_key,
    )


class IndexKeyError(RuntimeError):
    """A look-up in an index built under another hashing key than the process's."""


class Index:
    """Anchor keys -> postings, plus the records postings point at."""

    def __init__(
        self,
        keys: Keys,
        values: Postings,
        blob: bytes,
        offsets: npt.NDArray[np.int64],
        token_sets: Sequence[frozenset[Any]],
        hash_key: bytes,
    ) -> None:
        # The probes of a scan are hashed under the process's key: make it this
        # index's (a scan process receives its index, key included, from the builder).
        if K.current_key() != hash_key:
            K.use_key(hash_key)
        self.hash_key = hash_key
        self._keys = keys
        self._values = values
        self._blob = blob
        self._offsets = offsets
        self._bitmap, self._mask = _bitmap(keys)
        self.given, self.first, self.surnames, self.generic, self.streets = token_sets
        # Every word a text finder starts from, for one pass over a text's words.
        self.anchors = self.given | self.generic | A.STREET_TYPES.keys() | N.MONTH_WORDS
        self.record = functools.lru_cache(maxsize=4096)(self._record)

    @functools.cached_property
    def street_skeletons(self) -> dict[str, frozenset[str]]:
        """Protected streets' words by how OCR may write them (``loose_skeleton``), for
        OCR'd text: ``Wl|clmoor`` is ``wildmoor``.  Made on the first OCR'd text."""
        out: dict[str, set[str]] = {}
        for word in self.streets:
            out.setdefault(loose_skeleton(word), set()).add(word)
        return {skeleton: frozenset(words) for skeleton, words in out.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its arrays, records, token sets and hashing key (built once, sent
        to the scan processes over their sockets, or sealed on disk); the bitmap and the
        record cache are made again on arrival."""
        sets = (self.given, self.first, self.surnames, self.generic, self.streets)
        args = (self._keys, self._values, self._blob, self._offsets, sets, self.hash_key)
        return (Index, args)

    @property
    def size(self) -> int:
        """Number of records (cases and protected locations)."""
        return len(self._offsets)

    def nbytes(self) -> int:
        arrays = self._keys.nbytes + self._values.nbytes + self._offsets.nbytes
        arrays += self._bitmap.nbytes
        return arrays + len(self._blob)

    def _record(self, index: int) -> Record:
        start = int(self._offsets[index])
        end = int(self._offsets[index + 1]) if index + 1 < len(self._offsets) else len(self._blob)
        rec: Record = marshal.loads(self._blob[start:end])  # noqa: S302 - our own records
        return rec

    def lookup(
        self,
        probes: Sequence[int],
        cap: int = 0,
        weak: Collection[Code] = (),
        keep: Collection[int] = (),
    ) -> list[list[int]]:
        """Postings of each probe key (an empty list where the key is unknown).

        A key with more than ``cap`` postings whose code is in ``weak`` keeps only the
        postings of the records in ``keep``: such a key is too common to be evidence
        on its own.  A bitmap of the keys' low bits rules most unknown keys out with
        one memory access, before the binary search.  ``IndexKeyError`` if the process
        hashes under another key than the index's (its probes could never match).
        """
        if K.current_key() != self.hash_key:
            raise IndexKeyError("the index was built under another hashing key")
        out: list[list[int]] = [[] for _ in probes]
        if not probes or not len(self._keys):
            return out
        query = np.array(probes, dtype=np.uint64)
        bit = query & self._mask
        maybe = np.flatnonzero((self._bitmap[bit >> 3] >> (bit & 7).astype(np.uint8)) & 1)
        if not len(maybe):
            return out
        lo = np.searchsorted(self._keys, query[maybe])
        lo = np.minimum(lo, len(self._keys) - 1)
        hit = self._keys[lo] == query[maybe]
        found, starts = maybe[hit], lo[hit]
        ends = np.searchsorted(self._keys, query[found], side="right")
        for i, start, end in zip(found.tolist(), starts.tolist(), ends.tolist(), strict=True):
            postings = self._values[start:end]
            if cap and end - start > cap and unpack(int(postings[0]))[1] in weak:
                postings = postings[np.isin(postings >> 20, list(keep))]
            out[i] = postings.tolist()
        return out


def _bitmap(keys: Keys) -> tuple[npt.NDArray[np.uint8], int]:
    """One bit per key's low bits, 8 bits per key: about 12% of unknown keys get past."""
    bits = 1 << max(16, int(len(keys) * 8).bit_length())
    mask = bits - 1
    present = np.zeros(bits, dtype=np.bool_)
    present[keys & mask] = True
    return np.packbits(present, bitorder="little"), mask


def build_index(cases: Iterable[Case], locations: Iterable[ProtectedLocation] = ()) -> Index:
    """Build the index; ``cases`` may be a generator, so a register need not fit twice."""
    return merge([build_part(cases), build_part((), locations)])


def build_part(cases: Iterable[Case], locations: Iterable[ProtectedLocation] = ()) -> Part:
    """The keys and records of some cases and locations, numbered from zero."""
    builder = _Builder()
    for case in cases:
        _add_case(builder, case)
    for location in locations:
        form = A.parse_address(location.address)
        out = _Postings(builder, builder.record(("L", location.id, (_address_tuple(form),))))
        _add_address(out, 0, 0, form)
        out.flush()
    return Part.of(builder)


def _address_tuple(form: A.AddressForm) -> tuple[Any, ...]:
    """The parts a hit is verified against (``ADDRESS_FIELDS``); words only where
    there is no street line."""
    words = () if form.has_street and (form.house or form.building) else form.words
    return (
        form.house,
        form.flat,
        form.street,
        form.kind,
        form.town,
        form.postcode,
        words,
        form.building,
        form.also,
    )


# The fields of an address in a record, in ``_address_tuple`` order.
ADDRESS_FIELDS = (
    "house",
    "flat",
    "street",
    "kind",
    "town",
    "postcode",
    "words",
    "building",
    "also",
)


class _Postings:
    """The keys and postings of one record, appended to plain lists.

    This is the build's hot path (tens of millions of calls for a million cases), so
    a posting is assembled from precomputed bits, in the layout ``unpack`` reads.
    """

    __slots__ = ("b", "base", "keys", "values")

    def __init__(self, b: _Builder, record: int) -> None:
        self.b = b
        self.base = record << 20
        self.keys: list[int] = []
        self.values: list[int] = []

    def add(self, key: int, code: Code, person: int = 0, detail: int = 0) -> None:
        self.keys.append(key)
        person = person if person < 255 else 255
        detail = detail if detail < 255 else 255
        self.values.append(self.base | _CODE_BITS[code] | person << _PERSON_SHIFT | detail)

    def flush(self) -> None:
        self.b.keys.extend(self.keys)
        self.b.values.extend(self.values)


_CODE_BITS = {code: code << _CODE_SHIFT for code in Code}


def _add_case(b: _Builder, case: Case) -> None:
    people = [
        (p, N.name_parts(p.name), [A.parse_address(a) for a in p.addresses]) for p in case.protected
    ]
    persons = tuple(
        (parts.surname if parts else "", tuple(_address_tuple(f) for f in forms))
        for _, parts, forms in people
    )
    restricted = tuple(N.canonical_email(e) for r in case.restricted for e in r.emails)
    out = _Postings(b, b.record(("C", case.id, persons, restricted)))
    for number, (person, parts, forms) in enumerate(people):
        _add_person(out, number, person, parts, forms)
    for contact in case.restricted:
        _add_restricted(out, contact)
    for email_index, email in enumerate(restricted):
        _add_restricted_email(out, email_index, email)
    for address in case.allowed_recipients:
        out.add(K.allowed_key(N.canonical_email(address)), Code.ALLOWED)
    out.flush()


def _add_person(
    out: _Postings,
    number: int,
    person: ProtectedPerson,
    parts: N.NameParts | None,
    forms: list[A.AddressForm],
) -> None:
    _add_name(out, number, parts, alias=False)
    for alias in person.aliases:
        _add_name(out, number, N.name_parts(alias), alias=True)
    if person.date_of_birth is not None:
        out.add(K.dob_key(person.date_of_birth.isoformat()), Code.DOB, number)
    for phone in person.phones:
        e164 = N.phone_digits_key(phone) or N.phone_e164(phone)
        if e164:
            out.add(K.phone_key(e164), Code.PHONE, number)
    for email in person.emails:
        out.add(K.email_key(N.canonical_email(email)), Code.EMAIL, number)
    for detail, form in enumerate(forms):
        _add_address(out, number, detail, form)


def _add_name(out: _Postings, number: int, parts: N.NameParts | None, alias: bool) -> None:
    if parts is None or not parts.given:
        return
    first, surname = parts.first, parts.surname
    forms = N.given_forms(first).union(*(N.given_forms(g) for g in parts.given[1:2]))
    b = out.b
    b.surnames.add(surname)
    b.first.add(first)
    b.given.update(forms)
    b.given.add(first[0])
    for form in forms:
        exact = form == first and not alias
        out.add(K.name_key(form, surname), Code.NAME, number, 0 if exact else 1)
    out.add(K.name_key(first[0], surname), Code.NAME, number, 2)
    if not alias:  # records keep the main surname only, which typo hits are checked against
        for key in K.name_half_keys(first, surname):
            out.add(key, Code.NAME_TYPO, number)


def _add_address(out: _Postings, number: int, detail: int, form: A.AddressForm) -> None:
    if form.postcode:
        out.add(K.postcode_key(form.postcode), Code.POSTCODE, number, detail)
    if form.has_street:
        # The street alone: a number after it, a house name or a town beside it.
        out.b.streets.add(form.anchor)
        out.add(K.street_key(form.kind, form.street), Code.STREET, number, detail)
    if form.has_street and form.house:
        for house in (form.house, *form.also):
            out.add(K.address_key(house, form.kind, form.street), Code.ADDRESS, number, detail)
            for key in K.address_half_keys(house, form.kind, form.street):
                out.add(key, Code.ADDRESS_TYPO, number, detail)
    if form.has_street and form.building:
        words = _building_anchors(form.building)
    elif form.has_street and form.house:
        return
    else:
        words = {w for w in form.line if len(w) >= 4 and w.isalpha()}
    for word in words:
        out.b.generic.add(word)
        out.add(K.generic_key(word), Code.GENERIC, number, detail)


# Words that name the kind of a building rather than the building: a house name is
# found from its other words when it has any (``Beech House`` from ``beech``).
_BUILDING_WORDS = frozenset(
    [
        "house",
        "cottage",
        "cottages",
        "farm",
        "lodge",
        "barn",
        "hall",
        "manor",
        "mill",
        "villa",
        "bungalow",
        "court",
        "the",
    ]
)


def _building_anchors(building: tuple[str, ...]) -> set[str]:
    words = {w for w in building if len(w) >= 4 and w.isalpha()}
    return (words - _BUILDING_WORDS) or words


def _add_restricted(out: _Postings, contact: RestrictedContact) -> None:
    for name in [contact.name, *contact.aliases]:
        parts = N.name_parts(name)
        if parts is None or not parts.given:
            continue
        for form in N.given_forms(parts.first) | {parts.first}:
            out.add(K.restricted_name_key(form, parts.surname), Code.RESTRICTED_NAME)


def _add_restricted_email(out: _Postings, index: int, email: str) -> None:
    out.add(K.restricted_key(email), Code.RESTRICTED, 0, index)
    local, _, domain = email.rpartition("@")
    out.add(K.restricted_local_key(local), Code.RESTRICTED_NEAR, 0, index)
    for key in K.restricted_half_keys(domain, local):
        out.add(key, Code.RESTRICTED_NEAR, 0, index)
