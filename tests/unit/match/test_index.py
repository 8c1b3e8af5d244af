"""The index: look-ups, common keys, records, and the parallel build."""

import hashlib

import numpy as np
import pytest

from gateway.match import build_index, match, parallel
from gateway.match import keys as K
from gateway.match.index import unpack
from gateway.match.keys import Code
from gateway.match.parallel import build_index_parallel, split
from gateway.match.recipients import Addressee
from gateway.register.model import Case, ProtectedPerson, Register, RestrictedContact
from gateway.segments import Segment


def _email(number: int) -> str:
    """Restricted addresses far apart (no two one edit from each other)."""
    return f"{hashlib.sha256(str(number).encode()).hexdigest()[:10]}@example.com"


def _case(number: int, name: str = "Sarah Whitmore") -> Case:
    return Case(
        id=f"C-{number}",
        protected=[ProtectedPerson(name=name, addresses=[f"{number} Heron Road, York YO1 7HH"])],
        restricted=[RestrictedContact(name="Mark Smith", emails=[_email(number)])],
    )


def test_lookup_returns_the_postings_of_known_keys_only() -> None:
    """Known keys give their postings, in probe order; unknown keys give nothing."""
    index = build_index([_case(1), _case(2)])
    key = K.address_key("2", "road", "heron")
    found = index.lookup([12345, key, K.postcode_key("YO17HH")])
    assert [] == found[0]
    assert [(1, Code.ADDRESS)] == [unpack(v)[:2] for v in found[1]]
    assert [0, 1] == sorted(unpack(v)[0] for v in found[2])


def test_a_name_shared_by_many_cases_counts_only_for_restricted_recipients() -> None:
    """A common name is no evidence alone; it still counts for the case of a restricted
    recipient."""
    index = build_index([_case(n) for n in range(40)])
    text = [Segment("body", "Sarah Whitmore called")]
    outside = match(index, text, [Addressee("x@elsewhere.example", "envelope")])
    assert [] == [f for f in outside.findings if f.kind.value == "name"]
    restricted = match(index, text, [Addressee(_email(7), "envelope")])
    assert {("name", "C-7")} == {
        (f.kind.value, f.case) for f in restricted.findings if f.kind.value == "name"
    }


def test_address_shared_by_many_cases_is_still_checked_for_each() -> None:
    """A strong key stays whole however common: each case's postcode decides."""
    cases = [
        Case(
            id=f"C-{n}",
            protected=[
                ProtectedPerson(
                    name="A B",
                    addresses=[f"12 Church Street, Town{n}, LS{n % 9 + 1} {n % 9 + 1}AB"],
                )
            ],
        )
        for n in range(30)
    ]
    index = build_index(cases)
    found = match(index, [Segment("body", "12 Church Street, LS4 4AB")], [])
    assert {("address", "C-3"), ("address", "C-12"), ("address", "C-21")} == {
        (f.kind.value, f.case) for f in found.findings
    }


def test_records_keep_case_ids() -> None:
    """A posting's record number leads back to its case id."""
    index = build_index([_case(5)])
    assert "C-5" == index.record(0)[1]


def test_parallel_build_gives_the_same_index_as_a_serial_one() -> None:
    """Two forked workers build exactly what one process builds."""
    cases = [_case(n, name) for n, name in enumerate(["Ann Lee", "Bo Chan", "Cy Dunn"] * 20)]
    serial = build_index(cases)
    parallel = build_index_parallel(split(cases, 2))
    probes = [K.name_key("ann", "lee"), K.address_key("7", "road", "heron"), 99]
    assert serial.lookup(probes) == parallel.lookup(probes)
    assert np.array_equal(serial._keys, parallel._keys)
    assert [serial.record(i) for i in range(60)] == [parallel.record(i) for i in range(60)]


def _data(count: int) -> dict[str, object]:
    return {
        "version": 1,
        "cases": [_case(n).model_dump(mode="json") for n in range(count)],
        "protected_locations": [{"id": "L-1", "address": "12 Example Street, Sheffield, S1 2AB"}],
    }


def test_a_register_validated_and_indexed_on_two_cores_gives_the_serial_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cases validated and indexed in two processes: the same keys, postings and
    records as the whole register validated and indexed in one."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 10)
    data = _data(41)
    index, cases = parallel.build_from_data(data, processes=2)
    register = Register.model_validate(data)
    serial = build_index(register.cases, register.protected_locations)
    assert 41 == cases
    assert np.array_equal(serial._keys, index._keys)
    assert np.array_equal(serial._values, index._values)
    assert [serial.record(i) for i in range(42)] == [index.record(i) for i in range(42)]


def test_a_case_that_does_not_validate_fails_the_parallel_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad case in a child process's share stops the build; no partial index."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 10)
    data = _data(20)
    data["cases"][3]["protected"][0]["emails"] = ["not an address"]  # type: ignore[index]
    with pytest.raises(RuntimeError, match="index build process failed"):
        parallel.build_from_data(data, processes=2)
