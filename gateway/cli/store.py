"""Commands on the store: ``keygen``, ``rekey`` and ``store migrate``, and what every
store command shares (``--data-dir``, ``--key-file``, opening the store, the CLI's
actor).  ``register ...`` is in ``gateway/cli/register.py``; ``quarantine``, ``user``
and ``audit`` are in ``gateway/cli/review.py``.

None of them prints a protected value.
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
from gateway.errors import ConfigError
from gateway.register import Register
from gateway.settings import Settings, load_settings
from gateway.store import RekeyCounts, Store
from gateway.store.move import MoveReport, move_store
from gateway.store.opening import open_settings_store, store_exists, store_keys

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
    add_store_flag(options)
    return options


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    """``--store URL``: a PostgreSQL store shared by several nodes."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help="postgresql://USER@HOST/DB shared by several nodes (default: GATEWAY_STORE, "
        "else the SQLite store in DATA_DIR)",
    )


def add_parsers(commands: Any) -> None:
    """``keygen``, ``rekey`` and ``store migrate``."""
    options = store_options()
    keygen = commands.add_parser(
        "keygen", parents=[options], help="write a new master key file (mode 0600)"
    )
    keygen.set_defaults(run=_keygen)
    rekey = commands.add_parser(
        "rekey", parents=[options], help="rotate the master key; the old one is kept aside"
    )
    rekey.set_defaults(run=_rekey)
    _store_parsers(commands)


MIGRATE_HELP = (
    "move a single node's store (messages, register versions, accounts, approvals and "
    "the audit chain, verified after the move) into a new, empty PostgreSQL database "
    "for several nodes.  Stop the gateway first (serve, milter and the console): what "
    "it writes during the move would be lost.  Sealed data moves as it is: every node "
    "then needs the same master key file.  Console users sign in again."
)


def _store_parsers(commands: Any) -> None:
    """``store migrate``."""
    s = commands.add_parser("store", help="the store as a whole").add_subparsers(
        dest="store_command", required=True
    )
    p = s.add_parser(
        "migrate", help="move a SQLite store into PostgreSQL", description=MIGRATE_HELP
    )
    p.add_argument(
        "--from", dest="source", required=True, metavar="sqlite:PATH", help="the SQLite file"
    )
    p.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="postgresql://USER@HOST/DB"
    )
    p.add_argument(
        "--key-file",
        type=Path,
        help="the master key the SQLite store is sealed with "
        "(default: GATEWAY_KEY_FILE, else DATA_DIR/master.key)",
    )
    p.set_defaults(run=_migrate, data_dir=None)


def settings_from(args: argparse.Namespace) -> Settings:
    """Data folder and key file (and, for commands that have them, ``--config``,
    ``--upstream`` and ``--policies``) from the flags, then ``GATEWAY_*``, then defaults."""
    return load_settings(
        getattr(args, "config", None),
        flags={
            "data_dir": args.data_dir,
            "key_file": args.key_file,
            "store": getattr(args, "store", None),
            "upstream": getattr(args, "upstream", None),
            "policies": getattr(args, "policies", None),
        },
    )


def with_store(
    settings: Settings, work: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run ``work`` on it, close it; an existing store unless ``create``."""
    if not create and not store_exists(settings):
        raise ConfigError(f"{settings.data_dir}: no gateway store here (see --data-dir)")
    keys, _ = store_keys(settings)

    done: list[T] = []

    async def run() -> None:
        store = await open_settings_store(settings, keys)
        try:
            done.append(await work(store))
        finally:
            await store.close()

    # The result is kept out of the main task: at exit, Python 3.11's asyncio.run
    # formats that task (its result too) twice, seconds for a 100,000-case register.
    asyncio.run(run())
    return done[0]


def stored_register(args: argparse.Namespace) -> Register:
    """The newest register in the store, for ``gateway scan`` without ``--register``."""
    settings = settings_from(args)
    if not store_exists(settings):
        raise ConfigError(f"{NO_REGISTER} in {settings.data_dir} ({IMPORT_HINT})")
    register = with_store(settings, lambda store: store.load_register())
    if register is None:
        raise ConfigError(f"{NO_REGISTER} in {settings.data_dir} ({IMPORT_HINT})")
    return register


def _keygen(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.store and settings.database.exists() and not settings.key_path.exists():
        raise ConfigError(
            f"{settings.database}: a store exists, sealed with another key; a new key would "
            "not open it (give its key with --key-file; `gateway rekey` rotates it)"
        )
    keys = KeyRing.generate(settings.key_path)
    print(f"wrote a new master key to {settings.key_path} (mode 0600, key id {keys.id.hex()})")
    print(PRODUCTION_ADVICE)
    return 0


def _rekey(args: argparse.Namespace) -> int:
    """New key next to the old; rewrap everything; then swap the files, keeping the old."""
    settings = settings_from(args)
    path = settings.key_path
    if not store_exists(settings):
        raise ConfigError(f"{settings.data_dir}: no gateway store here (see --data-dir)")
    # a missing or bad key is reported before anything is made
    KeyRing.load(path, allow_insecure=settings.allow_insecure_key_permissions)
    pending = path.with_name(f"{path.name}.new")
    if pending.exists():
        raise ConfigError(f"{pending}: left by an unfinished rekey; see which key opens the store")
    new = KeyRing.generate(pending)
    where: list[str] = []

    async def rekey(store: Store) -> RekeyCounts:
        where.append(store.url)
        running = [f"{n.beat.host} (pid {n.beat.pid})" for n in await store.nodes()]
        if settings.store and running:
            raise ConfigError(
                f"{store.url}: gateway nodes are running on this store ({', '.join(running)}); "
                "stop every node first, rekey, then give every node the new key"
            )
        return await store.rekey(new)

    counts = with_store(settings, rekey)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    old = path.with_name(f"{path.name}.old-{stamp}")
    os.link(path, old)  # the old key keeps its 0600 file; it is never without a name
    os.replace(pending, path)
    print(
        f"rekeyed {where[0]}: {counts.messages} messages and "
        f"{counts.register_versions} register versions ({counts.blobs} sealed records)"
    )
    print(f"new key {path} (key id {new.id.hex()}); old key kept as {old}")
    if settings.store:
        print(
            "the store is shared: copy the new key to every node before starting them "
            "(a node with the old key is refused)"
        )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Open the SQLite store first: a wrong key is refused before the target is made."""
    from gateway.store.pg import PgStore, check_pg_url  # noqa: PLC0415 (psycopg on demand)

    source = _sqlite_path(args.source)
    target = check_pg_url(args.target)
    settings = settings_from(args)
    if not settings.key_path.exists():
        raise ConfigError(
            f"{settings.key_path}: no master key file; give the key {source} is sealed "
            "with (--key-file)"
        )
    keys = KeyRing.load(settings.key_path, allow_insecure=settings.allow_insecure_key_permissions)
    where: list[str] = []

    async def run() -> MoveReport:
        async with (
            await Store.open(source, keys) as old,
            await PgStore.open_pg(target, keys) as new,
        ):
            where[:] = [old.url, new.url]
            return await move_store(old, new)

    report = asyncio.run(run())
    print(f"moved {where[0]} to {where[1]}")
    for table, rows in report.rows.items():
        print(f"{table}: {rows} rows")
    print(f"audit chain verified: {report.audit_records} records")
    print(
        f"point every node at the new store (GATEWAY_STORE or --store {where[1]}), with the "
        "same master key file; console users sign in again"
    )
    return 0


def _sqlite_path(text: str) -> Path:
    """``sqlite:PATH`` -> the path of an existing file."""
    if not text.startswith("sqlite:"):
        raise ConfigError(f"--from: expected sqlite:PATH, not {text!r}")
    path = Path(text.removeprefix("sqlite:"))
    if not path.is_file():
        raise ConfigError(f"{path}: no SQLite store here (--from sqlite:PATH)")
    return path
