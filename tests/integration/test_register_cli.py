"""The register's life through the real ``gateway`` command: diff, import (yes, shrink
guard, identical file), add, update, remove, versions, rollback, retention, the audit
trail, what ``gateway serve --register`` does at a restart, and the README's example."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
import pty
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.crypto import KeyRing
from gateway.store import Store

from .smtp_support import GATEWAY, REPO, SinkHandler, sink, start_gateway
from .support import REGISTER, CliRun

EXAMPLE: dict[str, Any] = yaml.safe_load(REGISTER.read_text(encoding="utf-8"))
LANDLORD = "lettings@landlord.example"
NEW_CASE = {
    "id": "DA-2026-0311",
    "protected": [{"name": "Jo Bloggs", "addresses": ["4 Mill Lane, York, YO1 7HB"]}],
    "restricted": [{"name": "Sam Bloggs", "emails": ["sam.b@example.org"]}],
}
LIGHT = {"GATEWAY_SCAN_PROCESSES": "0"}  # a start in seconds: the scan is not under test


def _values(data: Any) -> list[str]:
    """Every protected string of a register's data (not ids, labels or the version)."""
    if isinstance(data, dict):
        return [v for k, item in data.items() if k not in ("id", "label") for v in _values(item)]
    if isinstance(data, list):
        return [v for item in data for v in _values(item)]
    return [str(data)] if isinstance(data, str | int | dt.date) else []


PROTECTED = [v for v in _values(EXAMPLE) + _values(NEW_CASE) if len(v) > 1]


def _no_protected_value(*texts: str) -> None:
    for value in PROTECTED:
        for text in texts:
            assert value not in text, value


def _variant(*, landlord: bool = False, new_case: bool = False, only: int | None = None) -> Any:
    """The example register, with the landlord made a restricted contact, a new case, or
    only its first ``only`` cases."""
    data = copy.deepcopy(EXAMPLE)
    if landlord:
        data["cases"][0]["restricted"][0]["emails"].append(LANDLORD)
    if new_case:
        data["cases"].append(copy.deepcopy(NEW_CASE))
    if only is not None:
        data["cases"] = data["cases"][:only]
    return data


def _write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _gateway(
    *argv: object, data: Path | None, stdin: str = "", env: dict[str, str] | None = None
) -> CliRun:
    """Run the installed ``gateway`` command (standard input a pipe, not a terminal)."""
    extra = [] if data is None else ["--data-dir", str(data)]
    done = subprocess.run(
        [str(GATEWAY), *map(str, argv), *extra],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(autouse=True)
def _no_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's GATEWAY_* variables must not steer these tests."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder whose store holds the example register as version 1."""
    folder = tmp_path / "data"
    assert 0 == _gateway("keygen", data=folder).status
    first = _gateway("register", "import", REGISTER, data=folder)
    assert 0 == first.status, first.err
    return folder


@pytest.fixture
def upstream() -> Iterator[tuple[SinkHandler, int]]:
    with sink() as peer:
        yield peer


def _stored_texts(data: Path) -> dict[int, str]:
    """Every kept version's text, unsealed with the data folder's key."""

    async def read() -> dict[int, str]:
        store = await Store.open(data / "gateway.sqlite3", KeyRing.load(data / "master.key"))
        try:
            out = {}
            for version in await store.register_versions():
                source = await store.register_source(version.version)
                assert source is not None
                out[version.version] = source.text
            return out
        finally:
            await store.close()

    return asyncio.run(read())


def _current_version(data: Path) -> str:
    listed = _gateway("register", "list", data=data)
    assert 0 == listed.status, listed.err
    return listed.out.splitlines()[0]


def test_diff_names_each_case_with_its_changed_fields_and_the_totals(
    data: Path, tmp_path: Path
) -> None:
    """diff prints added, removed and changed case ids (field names only) and totals,
    exits 0, and stores nothing."""
    new = _write(tmp_path / "new.yaml", _variant(landlord=True, new_case=True))
    result = _gateway("register", "diff", new, data=data)
    assert 0 == result.status, result.err
    assert f"{new} against register version 1:" in result.out
    assert "  added    DA-2026-0311" in result.out
    assert "  changed  DA-2025-0142: restricted[0].emails" in result.out
    assert "cases: 1 added, 0 removed, 1 changed, 1 unchanged (2 -> 3)" in result.out
    assert "protected locations: 0 added, 0 removed, 0 changed, 1 unchanged" in result.out
    _no_protected_value(result.out, result.err)
    assert "register version 1: 2 cases" in _current_version(data)


def test_an_import_without_a_terminal_needs_yes(data: Path, tmp_path: Path) -> None:
    """Without --yes and with no terminal, import prints the summary, says to pass --yes,
    exits non-zero and stores nothing; with --yes it is the next version."""
    new = _write(tmp_path / "new.yaml", _variant(landlord=True))
    refused = _gateway("register", "import", new, data=data)
    assert 0 != refused.status
    assert "changed  DA-2025-0142: restricted[0].emails" in refused.out
    assert "pass --yes" in refused.err
    assert "register version 1:" in _current_version(data)
    done = _gateway("register", "import", "--yes", new, data=data)
    assert (0, True) == (done.status, "imported as register version 2" in done.out)
    _no_protected_value(refused.out, refused.err, done.out)


def test_an_import_that_drops_most_cases_is_refused_without_allow_shrink(
    data: Path, tmp_path: Path
) -> None:
    """A file with two new cases and none of the old ones is refused even with --yes,
    naming the counts; with --allow-shrink it goes through; the limit is a setting."""
    only_new = _variant(new_case=True)
    only_new["cases"] = [only_new["cases"][-1], {"id": "N-2", "protected": [{"name": "K D"}]}]
    two = _write(tmp_path / "two-new-cases.yaml", only_new)
    refused = _gateway("register", "import", "--yes", two, data=data)
    assert 2 == refused.status
    assert "it would remove 2 of 2 cases (100%)" in refused.err
    assert "--allow-shrink" in refused.err
    assert "register version 1: 2 cases" in _current_version(data)
    one = _write(tmp_path / "one.yaml", _variant(only=1))
    relaxed = _gateway(
        "register", "import", "--yes", one, data=data, env={"GATEWAY_REGISTER_MAX_SHRINK": "0.5"}
    )
    assert 0 == relaxed.status, relaxed.err
    allowed = _gateway("register", "import", "--yes", "--allow-shrink", two, data=data)
    assert 0 == allowed.status, allowed.err
    assert "register version 3: 2 cases" in _current_version(data)
    _no_protected_value(refused.out, refused.err, allowed.out)


def test_the_same_register_again_stores_nothing(data: Path, tmp_path: Path) -> None:
    """A file with the same cases (other order, other layout) says so; no version is made."""
    same = _variant()
    same["cases"].reverse()
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(same, default_flow_style=True), encoding="utf-8")
    result = _gateway("register", "import", "--yes", "--format", "yaml", path, data=data)
    assert 0 == result.status, result.err
    assert "the same as register version 1; nothing stored" in result.out
    assert [1] == list(_stored_texts(data))


def _on_terminal(argv: list[str], answer: str) -> tuple[int, str]:
    """Run ``gateway`` with standard input a terminal that types ``answer``."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(GATEWAY), *argv], stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        os.write(controller, f"{answer}\n".encode())
        out, _ = process.communicate(timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)
    return process.returncode, out.decode()


def test_an_import_on_a_terminal_asks_before_it_stores(data: Path, tmp_path: Path) -> None:
    """On a terminal import shows the change and asks: no keeps the version, yes stores."""
    new = str(_write(tmp_path / "new.yaml", _variant(landlord=True)))
    status, out = _on_terminal(["register", "import", new, "--data-dir", str(data)], "n")
    assert (1, True) == (status, "Make this register version 2? [y/N]" in out)
    assert "nothing applied" in out
    assert "register version 1:" in _current_version(data)
    status, out = _on_terminal(["register", "import", new, "--data-dir", str(data)], "y")
    assert (0, True) == (status, "imported as register version 2" in out)


def test_add_update_and_remove_change_only_their_cases(data: Path, tmp_path: Path) -> None:
    """add refuses a known id and adds a new one; update refuses an unknown id and
    replaces a known one; remove drops one; the other cases stay as they were."""
    new_case = {"version": 1, "cases": [NEW_CASE]}
    add = _write(tmp_path / "add.yaml", new_case)
    refused = _gateway("register", "update", add, data=data)
    assert (2, True) == (refused.status, "no DA-2026-0311 in register version 1" in refused.err)
    added = _gateway("register", "add", add, data=data)
    assert (0, True) == (added.status, "  added    DA-2026-0311" in added.out)
    again = _gateway("register", "add", add, data=data)
    assert (2, True) == (again.status, "DA-2026-0311 is already in register version 2" in again.err)
    changed = {"version": 1, "cases": [_variant(landlord=True)["cases"][0]]}
    updated = _gateway("register", "update", _write(tmp_path / "up.yaml", changed), data=data)
    assert 0 == updated.status, updated.err
    assert "  changed  DA-2025-0142: restricted[0].emails" in updated.out
    assert "cases: 0 added, 0 removed, 1 changed, 2 unchanged (3 -> 3)" in updated.out
    removed = _gateway("register", "remove", "CL-2025-0007", data=data)
    assert 0 == removed.status, removed.err
    listed = _gateway("register", "list", data=data).out
    assert "register version 4: 2 cases" in listed
    assert "DA-2026-0311: 1 protected, 1 restricted" in listed
    assert "DA-2025-0142: 2 protected, 1 restricted, 1 allowed recipients" in listed
    _no_protected_value(added.out, updated.out, removed.out, refused.err)


def test_an_import_shows_the_files_warnings(data: Path, tmp_path: Path) -> None:
    """A new case with no restricted contact is imported, with a warning naming its
    case and field (and no value)."""
    lonely = copy.deepcopy(NEW_CASE)
    del lonely["restricted"]
    done = _gateway(
        "register",
        "add",
        _write(tmp_path / "new.yaml", {"version": 1, "cases": [lonely]}),
        data=data,
    )
    assert 0 == done.status, done.err
    assert f"warning: case {NEW_CASE['id']}: restricted:" in done.out
    _no_protected_value(done.out, done.err)


def test_a_change_with_wait_and_no_gateway_running_says_so(data: Path, tmp_path: Path) -> None:
    """``--wait`` on add, remove and rollback too: with no gateway running, exit 4."""
    added = _gateway(
        "register",
        "add",
        "--wait",
        _write(tmp_path / "n.yaml", {"version": 1, "cases": [NEW_CASE]}),
        data=data,
    )
    removed = _gateway("register", "remove", "--wait", NEW_CASE["id"], data=data)
    rolled = _gateway("register", "rollback", "--wait", "--yes", "2", data=data)
    assert (4, 4, 4) == (added.status, removed.status, rolled.status), added.err
    assert "not running" in added.out + added.err


def test_versions_say_who_how_from_what_and_which_is_current(data: Path, tmp_path: Path) -> None:
    """Each version is listed with time, actor, action, cases, digest prefix and source;
    the newest is marked current."""
    new = _write(tmp_path / "new.yaml", _variant(landlord=True))
    assert 0 == _gateway("register", "import", "--yes", new, data=data).status
    result = _gateway("register", "versions", data=data)
    assert 0 == result.status, result.err
    newest, oldest = result.out.splitlines()[1:]
    assert re.search(
        rf"^\s+2 .* cli:\S+\s+import\s+2\s+[0-9a-f]{{12}}\s+{new}  \(current\)$", newest
    )
    assert re.search(rf"^\s+1 .* import\s+2\s+[0-9a-f]{{12}}\s+{REGISTER}$", oldest)


def test_rollback_restores_the_exact_previous_content(data: Path, tmp_path: Path) -> None:
    """rollback 1 makes version 3 whose unsealed text is version 1's, byte for byte; it is
    audited, and the shrink guard holds for it too."""
    new = _write(tmp_path / "new.yaml", _variant(landlord=True, new_case=True))
    assert 0 == _gateway("register", "import", "--yes", new, data=data).status
    guarded = _gateway("register", "rollback", "--yes", "1", data=data)
    assert (2, True) == (guarded.status, "remove 1 of 3 cases" in guarded.err)
    done = _gateway("register", "rollback", "--yes", "--allow-shrink", "1", data=data)
    assert 0 == done.status, done.err
    assert "register version 3 has the content of version 1" in done.out
    texts = _stored_texts(data)
    assert REGISTER.read_text(encoding="utf-8") == texts[1] == texts[3]
    assert "rollback" in _gateway("register", "versions", data=data).out.splitlines()[1]
    current = _gateway("register", "rollback", "--yes", "3", data=data)
    assert (2, True) == (current.status, "is the current one already" in current.err)


def test_retention_trims_old_versions_but_never_the_current_one(data: Path, tmp_path: Path) -> None:
    """With register_keep_versions = 2 only the two newest versions stay."""
    keep = {"GATEWAY_REGISTER_KEEP_VERSIONS": "2"}
    for number, variant in enumerate((_variant(landlord=True), _variant(new_case=True))):
        path = _write(tmp_path / f"v{number}.yaml", variant)
        done = _gateway("register", "import", "--yes", "--allow-shrink", path, data=data, env=keep)
        assert 0 == done.status, done.err
    assert [3, 2] == list(_stored_texts(data))
    gone = _gateway("register", "rollback", "--yes", "1", data=data)
    assert (2, True) == (gone.status, "no register version 1" in gone.err)


def test_every_change_is_audited_with_counts_and_no_value(data: Path, tmp_path: Path) -> None:
    """import, add, remove and rollback each leave an audit record with their counts."""
    new = _write(tmp_path / "new.yaml", _variant(landlord=True))
    assert 0 == _gateway("register", "import", "--yes", new, data=data).status
    add = _write(tmp_path / "add.yaml", {"version": 1, "cases": [NEW_CASE]})
    assert 0 == _gateway("register", "add", add, data=data).status
    assert 0 == _gateway("register", "remove", "DA-2026-0311", data=data).status
    assert 0 == _gateway("register", "rollback", "--yes", "1", data=data).status
    trail = _gateway("audit", "list", data=data)
    assert 0 == trail.status, trail.err
    for expected in (
        r"register-import\s+register:1\s+register.example.yaml: 3 added, 0 removed, 0 changed",
        r"register-import\s+register:2\s+new.yaml: 0 added, 0 removed, 1 changed; 2 cases",
        r"register-add\s+register:3\s+add.yaml: 1 added, 0 removed, 0 changed; 3 cases",
        r"register-remove\s+register:4\s+DA-2026-0311: 0 added, 1 removed, 0 changed; 2 cases",
        r"register-rollback\s+register:5\s+version 1: 0 added, 0 removed, 1 changed",
    ):
        assert re.search(expected, trail.out), expected
    _no_protected_value(trail.out)


def _events(log: str, event: str) -> list[dict[str, Any]]:
    """The JSON log records of one event."""
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


def _start(data: Path, port: int, register: Path) -> str:
    """Start ``gateway serve --register register``, stop it; its log."""
    running = start_gateway(data, port, "--register", str(register), env=LIGHT)
    assert 0 == running.stop(), running.logs()[-3000:]
    return running.logs()


def test_a_restart_never_replaces_a_newer_version_from_the_cli(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """serve --register old.yaml imports it once; after a CLI import of a newer version a
    restart with the same old file keeps the newer version and says where it came from."""
    data, old = tmp_path / "data", _write(tmp_path / "old.yaml", _variant())
    first = _start(data, upstream[1], old)
    assert '"register imported"' in first
    new = _write(tmp_path / "new.yaml", _variant(landlord=True, new_case=True))
    assert 0 == _gateway("register", "import", "--yes", new, data=data).status
    again = _start(data, upstream[1], old)
    assert '"register unchanged"' in again
    [current] = _events(again, "register current")
    assert (2, "import", str(new)) == (current["version"], current["action"], current["source"])
    assert [1, 2] == sorted(_stored_texts(data))
    assert "register version 2: 3 cases" in _current_version(data)
    _no_protected_value(first, again)


def test_a_start_file_from_elsewhere_is_not_imported_over_the_store(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """A store whose register came from the CLI keeps it when serve is given another file
    it never imported; the log warns."""
    data = tmp_path / "data"
    assert 0 == _gateway("keygen", data=data).status
    new = _write(tmp_path / "new.yaml", _variant(landlord=True))
    assert 0 == _gateway("register", "import", new, data=data).status
    log = _start(data, upstream[1], _write(tmp_path / "other.yaml", _variant(only=1)))
    assert '"register file not imported"' in log
    assert [1] == list(_stored_texts(data))


def test_a_changed_start_file_is_imported_unless_it_drops_too_much(
    tmp_path: Path, upstream: tuple[SinkHandler, int]
) -> None:
    """A start file that changed since its import is imported (audited); one that would
    drop most cases stops the start with a message naming the counts and the way on."""
    data, path = tmp_path / "data", tmp_path / "register.yaml"
    _start(data, upstream[1], _write(path, _variant()))
    log = _start(data, upstream[1], _write(path, _variant(new_case=True)))
    assert [2] == [e["version"] for e in _events(log, "register imported")]
    assert "register version 2: 3 cases" in _current_version(data)
    _write(path, _variant(only=1))
    with pytest.raises(RuntimeError) as failed:
        start_gateway(data, upstream[1], "--register", str(path), env=LIGHT)
    message = str(failed.value)
    assert "not imported at start" in message
    assert "it would remove 2 of 3 cases (67%)" in message
    assert "--allow-shrink" in message
    assert "register version 2: 3 cases" in _current_version(data)
    trail = _gateway("audit", "list", data=data).out
    assert re.search(r"system:serve\s+register-import\s+register:2\s+register.yaml: 1 added", trail)


def _readme_commands() -> list[tuple[str, list[str]]]:
    """The ``$ gateway ...`` lines of the README's section on changing the register, each
    with the output lines shown under it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Changing the register")[1].split("\n## ")[0]
    commands: list[tuple[str, list[str]]] = []
    for line in section.splitlines():
        if line.startswith("    $ "):
            commands.append((line[6:], []))
        elif line.startswith("    ") and commands:
            commands[-1][1].append(line[4:])
    return commands


def test_the_readme_example_works(tmp_path: Path) -> None:
    """The README's diff, import, refused import, versions and rollback commands give
    the output it shows (lines with times, paths and '...' aside)."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    data = tmp_path / "data"
    assert 0 == _gateway("keygen", data=data).status
    example = tmp_path / "examples" / "register.example.yaml"
    assert 0 == _gateway("register", "import", example, data=data).status
    _write(tmp_path / "new-register.yaml", _variant(landlord=True, new_case=True))
    two = _variant(new_case=True)
    two["cases"] = [two["cases"][-1], {"id": "DA-2026-0312", "protected": [{"name": "K D"}]}]
    _write(tmp_path / "two-new-cases.yaml", two)
    commands = _readme_commands()
    assert 5 == len(commands)
    for command, shown in commands:
        argv = command.split()
        assert "gateway" == argv[0]
        done = subprocess.run(
            [str(GATEWAY), *argv[1:]], capture_output=True, text=True, cwd=tmp_path, check=False
        )
        printed = done.stdout + done.stderr
        failing = any(line.startswith("gateway: error:") for line in shown)
        assert (2 if failing else 0) == done.returncode, (command, printed)
        for line in shown:
            if line != "..." and not re.search(r"\d{4}-\d\d-\d\d |/srv/", line):
                assert line in printed, (command, line)
