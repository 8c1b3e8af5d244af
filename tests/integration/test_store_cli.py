"""The store commands through ``gateway.cli.main``: keys, register versions, quarantine."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.crypto import KeyRing
from gateway.store import HeldMessage, Store, new_message_id

from .support import MARK, REGISTER, SAFE_ADDRESS, CliRun

Gateway = Callable[..., CliRun]
PASSWORD = "a long test password"


def _protected_values() -> list[str]:
    """Every name, alias, address, phone, email and date of the example register."""
    data = yaml.safe_load(REGISTER.read_text())
    values: list[str] = []
    for case in data["cases"]:
        for person in case["protected"] + case.get("restricted", []):
            for value in person.values():
                values += [str(v) for v in value] if isinstance(value, list) else [str(value)]
        values += case.get("allowed_recipients", [])
    values += [p["address"] for p in data["protected_locations"]]
    return values


PROTECTED = _protected_values()


def _assert_no_protected_value(result: CliRun) -> None:
    for value in PROTECTED:
        assert value not in result.out + result.err, value


@pytest.fixture(autouse=True)
def _no_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's GATEWAY_* variables must not steer these tests."""
    for name in ("GATEWAY_DATA_DIR", "GATEWAY_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data(tmp_path: Path, gateway: Gateway) -> Path:
    """A data folder with a master key made by ``gateway keygen``."""
    folder = tmp_path / "data"
    assert 0 == gateway("keygen", "--data-dir", folder).status
    return folder


@pytest.fixture
def imported(data: Path, gateway: Gateway) -> Path:
    """A data folder whose store holds the example register as version 1."""
    result = gateway("register", "import", REGISTER, "--data-dir", data)
    assert 0 == result.status, result.err
    return data


def test_keygen_writes_a_private_key_and_says_where(tmp_path: Path, gateway: Gateway) -> None:
    """The key lands under the data folder with mode 0600, with advice for production."""
    result = gateway("keygen", "--data-dir", tmp_path / "data")
    key = tmp_path / "data" / "master.key"
    assert 0 == result.status
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    assert str(key) in result.out
    assert "GATEWAY_KEY_FILE" in result.out
    assert key.read_bytes().hex() not in result.out


def test_keygen_refuses_to_overwrite(tmp_path: Path, gateway: Gateway) -> None:
    """A second keygen to the same --key-file fails with status 2 and keeps the key."""
    key = tmp_path / "secrets" / "gateway.key"
    assert 0 == gateway("keygen", "--key-file", key).status
    before = key.read_bytes()
    result = gateway("keygen", "--key-file", key)
    assert 2 == result.status
    assert str(key) in result.err
    assert before == key.read_bytes()


def test_keygen_follows_the_environment(
    tmp_path: Path, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without flags the key goes to GATEWAY_DATA_DIR."""
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "env-data"))
    assert 0 == gateway("keygen").status
    assert (tmp_path / "env-data" / "master.key").is_file()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_a_key_open_to_group_or_others_is_refused(
    imported: Path, gateway: Gateway, mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readable or writable by group or others: every store command stops with the fix;
    the setting accepts it where a secrets mount gives that mode."""
    key = imported / "master.key"
    key.chmod(mode)
    refused = gateway("register", "list", "--data-dir", imported)
    assert 2 == refused.status
    assert f"chmod 600 {key}" in refused.err
    assert f"mode {mode:04o}" in refused.err
    monkeypatch.setenv("GATEWAY_ALLOW_INSECURE_KEY_PERMISSIONS", "true")
    assert 0 == gateway("register", "list", "--data-dir", imported).status


def test_a_store_without_its_key_never_gets_a_new_one(imported: Path, gateway: Gateway) -> None:
    """keygen beside a store whose key is kept elsewhere refuses, and writes no key."""
    (imported / "master.key").rename(imported.parent / "elsewhere.key")
    refused = gateway("keygen", "--data-dir", imported)
    assert 2 == refused.status
    assert "a new key would not open it" in refused.err
    assert not (imported / "master.key").exists()


def test_import_without_a_key_is_a_clear_error(tmp_path: Path, gateway: Gateway) -> None:
    """A missing key file is status 2 with a message naming the file."""
    result = gateway("register", "import", REGISTER, "--data-dir", tmp_path)
    assert 2 == result.status
    assert str(tmp_path / "master.key") in result.err
    assert "keygen" in result.err


def test_import_prints_the_version_and_counts_only(data: Path, gateway: Gateway) -> None:
    """Import reports version and counts; the same file again says so and stores nothing."""
    first = gateway("register", "import", REGISTER, "--data-dir", data)
    second = gateway("register", "import", REGISTER, "--data-dir", data)
    assert (0, 0) == (first.status, second.status)
    assert "register version 1, 2 cases, 3 protected people" in first.out
    assert "the same as register version 1; nothing stored" in second.out
    assert "register version 1: 2 cases" in gateway("register", "list", "--data-dir", data).out
    _assert_no_protected_value(first)


def test_import_of_an_invalid_register_stores_nothing(
    data: Path, gateway: Gateway, tmp_path: Path
) -> None:
    """A register that does not validate is status 2 and leaves no version behind."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(REGISTER.read_text().replace("version: 1", "version: 7"))
    assert 2 == gateway("register", "import", bad, "--data-dir", data).status
    assert "no register imported yet" in gateway("register", "list", "--data-dir", data).err


def test_list_shows_case_ids_and_counts(imported: Path, gateway: Gateway) -> None:
    """List names the cases with their counts and no protected value."""
    result = gateway("register", "list", "--data-dir", imported)
    assert 0 == result.status
    assert "DA-2025-0142: 2 protected, 1 restricted, 1 allowed recipients" in result.out
    assert "CL-2025-0007: 1 protected, 1 restricted, 0 allowed recipients" in result.out
    _assert_no_protected_value(result)


def test_show_gives_field_names_and_counts(imported: Path, gateway: Gateway) -> None:
    """Show lists which fields each person has, never their values."""
    result = gateway("register", "show", "DA-2025-0142", "--data-dir", imported)
    assert 0 == result.status
    expected = (
        "protected[0]: name, aliases (1), date_of_birth, addresses (1), phones (1), emails (1)"
    )
    assert expected in result.out
    assert "restricted[0]: name, aliases (1), emails (2), phones (1)" in result.out
    _assert_no_protected_value(result)


def test_show_of_an_unknown_case_fails(imported: Path, gateway: Gateway) -> None:
    """An unknown case id is status 2."""
    assert 2 == gateway("register", "show", "NO-SUCH", "--data-dir", imported).status


def test_remove_drops_a_case_in_a_new_version(imported: Path, gateway: Gateway) -> None:
    """After remove, list shows version 2 without the case."""
    removed = gateway("register", "remove", "CL-2025-0007", "--data-dir", imported)
    listed = gateway("register", "list", "--data-dir", imported)
    assert (0, 0) == (removed.status, listed.status)
    assert "register version 2: 1 cases" in listed.out
    assert "CL-2025-0007" not in listed.out
    _assert_no_protected_value(removed)


def test_scan_without_register_uses_the_stored_one(
    imported: Path, gateway: Gateway, write_mail: Callable[..., Path]
) -> None:
    """scan without --register finds the safe address with the imported register."""
    mail = write_mail(body=f"She lives at {SAFE_ADDRESS} now.", to=[MARK])
    result = gateway("scan", "--json", "--data-dir", imported, "--rcpt", MARK, mail)
    assert 0 == result.status, result.err
    assert "DA-2025-0142" in {f["case"] for f in result.record["findings"]}
    assert "allow" != result.record["action"]


def test_scan_without_any_register_is_a_usage_error(
    data: Path, gateway: Gateway, write_mail: Callable[..., Path]
) -> None:
    """scan with neither --register nor an imported register exits 2 and says so."""
    result = gateway("scan", "--data-dir", data, write_mail())
    assert 2 == result.status
    assert "no register imported yet" in result.err


def _hold(data: Path) -> HeldMessage:
    """Put one message straight into the store, as the SMTP side would."""
    msg = HeldMessage(
        id=new_message_id(),
        received_at=dt.datetime.now(dt.UTC),
        mail_from="worker@council.example.gov.uk",
        rcpt_tos=(MARK,),
        raw=f"To: {MARK}\r\n\r\n{SAFE_ADDRESS}\r\n".encode(),
        action="quarantine",
        severity="critical",
        rules=("protected-detail-to-restricted",),
        findings=[
            {
                "kind": "protected_address",
                "case": "DA-2025-0142",
                "location": "body",
                "confidence": "high",
                "score": 98.0,
            }
        ],
        evidence=[{"finding": 0, "location": "body", "start": 6, "end": 48, "text": SAFE_ADDRESS}],
    )

    async def hold() -> None:
        async with await Store.open(
            data / "gateway.sqlite3", KeyRing.load(data / "master.key")
        ) as store:
            await store.hold(msg)

    asyncio.run(hold())
    return msg


def test_quarantine_list_and_show_hide_addresses(
    imported: Path, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """List and show give verdict and findings; evidence and envelope only to a reviewer."""
    msg = _hold(imported)
    listed = gateway("quarantine", "list", "--data-dir", imported)
    shown = gateway("quarantine", "show", msg.id, "--data-dir", imported)
    assert (0, 0) == (listed.status, shown.status)
    assert msg.id in listed.out
    assert "findings=protected_address" in listed.out
    assert "finding protected_address case=DA-2025-0142" in shown.out
    for result in (listed, shown):
        _assert_no_protected_value(result)
    refused = gateway("quarantine", "show", msg.id, "--show-evidence", "--data-dir", imported)
    assert (2, "") == (refused.status, refused.out)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n" + PASSWORD + "\n"))
    added = gateway(
        "user",
        "add",
        "rita",
        "--email",
        "rita@example.org",
        "--role",
        "reviewer",
        "--data-dir",
        imported,
    )
    assert 0 == added.status, added.err
    evidence = gateway(
        "quarantine", "show", msg.id, "--show-evidence", "--user", "rita", "--data-dir", imported
    )
    assert 0 == evidence.status, evidence.err
    assert SAFE_ADDRESS in evidence.out
    assert MARK in evidence.out


def test_rekey_rotates_and_keeps_the_old_key(imported: Path, gateway: Gateway) -> None:
    """rekey rewraps every record, keeps the old key aside (0600), and the store still reads."""
    msg = _hold(imported)
    key = imported / "master.key"
    old_bytes = key.read_bytes()
    result = gateway("rekey", "--data-dir", imported)
    assert 0 == result.status, result.err
    assert "1 messages and 1 register versions (3 sealed records)" in result.out
    (old,) = imported.glob("master.key.old-*")
    assert old_bytes == old.read_bytes()
    assert 0o600 == stat.S_IMODE(old.stat().st_mode)
    assert old_bytes != key.read_bytes()
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    assert 0 == gateway("register", "list", "--data-dir", imported).status
    assert msg.id in gateway("quarantine", "show", msg.id, "--data-dir", imported).out
    stale = gateway("register", "list", "--data-dir", imported, "--key-file", old)
    assert 2 == stale.status
    assert "not the key" in stale.err
