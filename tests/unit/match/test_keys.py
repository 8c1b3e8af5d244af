"""Index keys: keyed hashes, stable across processes under one key, unrelated under two."""

import json
import pickle
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.match import Index, build_index
from gateway.match import keys as K
from gateway.match.index import IndexKeyError
from gateway.register.model import Case, ProtectedPerson

KEY_A = bytes(range(16))
KEY_B = bytes(range(1, 17))
WORDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@pytest.fixture(autouse=True)
def _restore_key() -> Iterator[None]:
    """Each test may switch the process's key; the others keep theirs."""
    before = K.current_key()
    yield
    K.use_key(before)


def _sample() -> list[int]:
    """Keys of every kind for a fixed set of values, under the process's key."""
    return [
        K.name_key("sarah", "whitmore"),
        *K.name_half_keys("sarah", "whitmore"),
        K.address_key("27", "road", "kingfisher"),
        *K.address_half_keys("27", "road", "kingfisher"),
        K.street_key("road", "kingfisher"),
        K.postcode_key("LS63QT"),
        K.phone_key("+447700900461"),
        K.email_key("sarah@example.net"),
        K.dob_key("1988-04-17"),
        K.generic_key("keizersgracht"),
        K.restricted_key("mark@example.com"),
        K.restricted_name_key("mark", "whitmore"),
        K.restricted_local_key("mark.whitmore"),
        *K.restricted_half_keys("example.com", "markwhitmore"),
        K.allowed_key("caseworker@council.example.gov.uk"),
        *K.probe_halves("N", ("sarah",), "whitmore"),
    ]


def test_keys_are_the_same_in_another_process_with_the_same_key() -> None:
    """A fresh interpreter hashing under the same key makes exactly the same keys."""
    K.use_key(KEY_A)
    code = (
        "import json, sys; from gateway.match import keys as K; "
        "from tests.unit.match.test_keys import _sample; "
        f"K.use_key(bytes.fromhex('{KEY_A.hex()}')); print(json.dumps(_sample()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert _sample() == json.loads(done.stdout)


def test_keys_under_another_key_share_nothing() -> None:
    """The same values under two keys give two disjoint sets of keys."""
    K.use_key(KEY_A)
    under_a = _sample()
    K.use_key(KEY_B)
    under_b = _sample()
    assert set() == set(under_a) & set(under_b)
    assert all(0 <= key < 1 << 64 for key in under_a + under_b)


@settings(max_examples=60, deadline=None)
@given(given_name=WORDS, word=WORDS)
def test_the_text_side_probes_the_halves_the_index_side_stores(given_name: str, word: str) -> None:
    """A word's own halves are among its probes, under any key (the memo is per key)."""
    for key in (KEY_A, KEY_B):
        K.use_key(key)
        probes = K.probe_halves("N", (given_name,), word)
        if len(word) >= 4:
            assert set(K.name_half_keys(given_name, word)) <= set(probes)


def test_a_lone_surrogate_in_message_text_is_hashed_not_refused() -> None:
    """Text decoded with surrogate escapes still gets keys (a scan must not crash)."""
    K.use_key(KEY_A)
    word = "whit\udcffmore"
    assert K.email_key(word) == K.email_key(word)
    assert len(K.probe_halves("N", ("sarah",), word)) >= 2


def test_a_key_of_the_wrong_size_is_refused() -> None:
    """A hashing key is 16 bytes; anything else is an error, not a weaker key."""
    with pytest.raises(ValueError, match="16 bytes"):
        K.use_key(b"short")


def _index() -> Index:
    case = Case(id="C-1", protected=[ProtectedPerson(name="Sarah Whitmore")])
    return build_index([case])


def test_an_index_brings_its_key_to_the_process_that_loads_it() -> None:
    """Unpickling an index makes the process hash under the index's key."""
    K.use_key(KEY_A)
    pickled = pickle.dumps(_index())
    K.use_key(KEY_B)
    index = pickle.loads(pickled)  # noqa: S301 - made just above
    assert KEY_A == K.current_key()
    found = index.lookup([K.name_key("sarah", "whitmore")])
    assert 1 == len(found[0])


def test_a_lookup_under_another_key_fails_instead_of_finding_nothing() -> None:
    """Probes hashed under another key could never match: the look-up raises."""
    K.use_key(KEY_A)
    index = _index()
    K.use_key(KEY_B)
    with pytest.raises(IndexKeyError):
        index.lookup([K.name_key("sarah", "whitmore")])
