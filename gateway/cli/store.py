"""Commands on the store: ``keygen``, ``rekey``, ``register import|list|show|remove``
(``quarantine``, ``user`` and ``audit`` are in ``gateway/cli/review.py``).

None of them prints a protected value: register commands show case ids, field names
and counts; quarantine commands show verdicts and finding kinds, and show addresses
and matched text only with ``--show-evidence``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.crypto import KeyRing
from gateway.errors import ConfigError, RegisterError
from gateway.register import Case, Register
from gateway.review import record_event
from gateway.settings import Settings, load_settings
from gateway.store import Store

T = TypeVar("T")

PRODUCTION_ADVICE = (
    "In production keep the key outside the data folder (for example on a secrets mount "
    "such as /run/secrets/gateway.key) and point the gateway at it with --key-file or "
    "GATEWAY_KEY_FILE; back it up apart from the data: without it nothing held can be read."
)
NO_REGISTER = "no register imported yet"
IMPORT_HINT = "run `gateway register import FILE`, or give scan --register FILE"


def read_secret(prompt: str = "password: ") -> str:
    """A password from the terminal (not echoed) or the first line of standard input."""
    text = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    return text.rstrip("\r\n")


def cli_actor() -> str:
    """How the audit log names whoever runs a command with no review account."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"


def store_options() -> argparse.ArgumentParser:
    """``--data-dir`` and ``--key-file``, shared by every command that uses the store."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data-dir", type=Path, help="store folder (default: GATEWAY_DATA_DIR, else ./data)"
    )
    options.add_argument(
        "--key-file",
        type=Path,
        help="master key (default: GATEWAY_KEY_FILE, else DATA_DIR/master.key)",
    )
    return options


def add_parsers(commands: Any) -> None:
    """``keygen`` and ``rekey``."""
    options = store_options()
    keygen = commands.add_parser(
        "keygen", parents=[options], help="write a new master key file (mode 0600)"
    )
    keygen.set_defaults(run=_keygen)
    rekey = commands.add_parser(
        "rekey", parents=[options], help="rotate the master key; the old one is kept aside"
    )
    rekey.set_defaults(run=_rekey)


def add_register_parsers(register_commands: Any) -> None:
    """``register import|list|show|remove``, under the existing ``register`` group."""
    options = store_options()
    rimport = register_commands.add_parser(
        "import", parents=[options], help="validate a register file and store it as a new version"
    )
    rimport.add_argument("file", type=Path)
    rimport.set_defaults(run=_register_import)
    rlist = register_commands.add_parser(
        "list", parents=[options], help="case ids with counts (no names or addresses)"
    )
    rlist.set_defaults(run=_register_list)
    rshow = register_commands.add_parser(
        "show",
        parents=[options],
        help="field names and counts of one case; protected values are never shown",
    )
    rshow.add_argument("case")
    rshow.set_defaults(run=_register_show)
    rremove = register_commands.add_parser(
        "remove", parents=[options], help="store a new register version without a case"
    )
    rremove.add_argument("case")
    rremove.set_defaults(run=_register_remove)


def settings_from(args: argparse.Namespace) -> Settings:
    """Data folder and key file (and, for commands that have them, ``--config``,
    ``--upstream`` and ``--policies``) from the flags, then ``GATEWAY_*``, then defaults."""
    return load_settings(
        getattr(args, "config", None),
        flags={
            "data_dir": args.data_dir,
            "key_file": args.key_file,
            "upstream": getattr(args, "upstream", None),
            "policies": getattr(args, "policies", None),
        },
    )


def with_store(
    settings: Settings, work: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run ``work`` on it, close it; an existing store unless ``create``."""
    if not create and not settings.database.exists():
        raise ConfigError(f"{settings.data_dir}: no gateway store here (see --data-dir)")
    keys = KeyRing.load(settings.key_path)

    async def run() -> T:
        store = await Store.open(settings.database, keys)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def stored_register(args: argparse.Namespace) -> Register:
    """The newest register in the store, for ``gateway scan`` without ``--register``."""
    settings = settings_from(args)
    if not settings.database.exists():
        raise ConfigError(f"{NO_REGISTER} in {settings.data_dir} ({IMPORT_HINT})")
    register = with_store(settings, lambda store: store.load_register())
    if register is None:
        raise ConfigError(f"{NO_REGISTER} in {settings.data_dir} ({IMPORT_HINT})")
    return register


# -- keys -----------------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    keys = KeyRing.generate(settings.key_path)
    print(f"wrote a new master key to {settings.key_path} (mode 0600, key id {keys.id.hex()})")
    print(PRODUCTION_ADVICE)
    return 0


def _rekey(args: argparse.Namespace) -> int:
    """New key next to the old; rewrap everything; then swap the files, keeping the old."""
    settings = settings_from(args)
    path = settings.key_path
    if not settings.database.exists():
        raise ConfigError(f"{settings.data_dir}: no gateway store here (see --data-dir)")
    KeyRing.load(path)  # a missing or bad key is reported before anything is made
    pending = path.with_name(f"{path.name}.new")
    if pending.exists():
        raise ConfigError(f"{pending}: left by an unfinished rekey; see which key opens the store")
    new = KeyRing.generate(pending)
    counts = with_store(settings, lambda store: store.rekey(new))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    old = path.with_name(f"{path.name}.old-{stamp}")
    os.link(path, old)  # the old key keeps its 0600 file; it is never without a name
    os.replace(pending, path)
    print(
        f"rekeyed {settings.database}: {counts.messages} messages and "
        f"{counts.register_versions} register versions ({counts.blobs} sealed records)"
    )
    print(f"new key {path} (key id {new.id.hex()}); old key kept as {old}")
    return 0


# -- register -------------------------------------------------------------------------


def _register_import(args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"cannot read register: {exc.__class__.__name__}"
        raise RegisterError(str(args.file), None, reason) from exc

    async def work(store: Store) -> tuple[int, Register]:
        await store.import_register(text, str(args.file))
        version, register = await _versioned_register(store)
        await record_event(
            store,
            cli_actor(),
            "register-import",
            f"register:{version}",
            f"{args.file.name}: {len(register.cases)} cases",
        )
        return version, register

    version, register = with_store(settings_from(args), work, create=True)
    print(f"{args.file}: imported as register version {version}, {_totals(register)}")
    return 0


def _register_list(args: argparse.Namespace) -> int:
    version, register = with_store(settings_from(args), _versioned_register)
    print(f"register version {version}: {_totals(register)}")
    for case in register.cases:
        print(
            f"  {case.id}: {len(case.protected)} protected, {len(case.restricted)} restricted, "
            f"{len(case.allowed_recipients)} allowed recipients"
        )
    for location in register.protected_locations:
        print(f"  {location.id}: protected location")
    return 0


def _register_show(args: argparse.Namespace) -> int:
    version, register = with_store(settings_from(args), _versioned_register)
    case = _find_case(register, args.case, version)
    print(f"case {case.id} (register version {version}; field names and counts only)")
    for kind, people in (("protected", case.protected), ("restricted", case.restricted)):
        for number, person in enumerate(people):
            print(f"  {kind}[{number}]: {_field_counts(person)}")
    print(f"  allowed_recipients: {len(case.allowed_recipients)}")
    return 0


def _register_remove(args: argparse.Namespace) -> int:
    async def work(store: Store) -> tuple[int, Register]:
        await store.remove_case(args.case)
        version, register = await _versioned_register(store)
        await record_event(
            store, cli_actor(), "register-remove", f"register:{version}", f"case {args.case}"
        )
        return version, register

    version, register = with_store(settings_from(args), work)
    print(f"removed case {args.case}: register version {version}, {_totals(register)}")
    return 0


async def _versioned_register(store: Store) -> tuple[int, Register]:
    version = await store.register_version()
    register = await store.load_register()
    if register is None:
        raise ConfigError(NO_REGISTER)
    return version, register


def _find_case(register: Register, case_id: str, version: int) -> Case:
    for case in register.cases:
        if case.id == case_id:
            return case
    raise ConfigError(f"no case {case_id!r} in register version {version}")


def _totals(register: Register) -> str:
    people = sum(len(case.protected) for case in register.cases)
    return (
        f"{len(register.cases)} cases, {people} protected people, "
        f"{len(register.protected_locations)} protected locations"
    )


def _field_counts(person: Any) -> str:
    """``name, aliases (1), date_of_birth, emails (2)``: the fields present, never values."""
    out = []
    for name, value in person:
        if isinstance(value, list):
            if value:
                out.append(f"{name} ({len(value)})")
        elif value is not None:
            out.append(name)
    return ", ".join(out)
