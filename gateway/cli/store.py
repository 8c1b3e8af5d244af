"""Commands on the store: ``keygen``, ``rekey``, ``register import|list|show|remove``,
``quarantine list|show``.

None of them prints a protected value: register commands show case ids, field names
and counts; quarantine commands show verdicts and finding kinds, and show addresses
and matched text only with ``--show-evidence``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.crypto import KeyRing
from gateway.errors import ConfigError, RegisterError
from gateway.register import Case, Register
from gateway.settings import Settings, load_settings
from gateway.store import STATUSES, HeldSummary, Store

T = TypeVar("T")

PRODUCTION_ADVICE = (
    "In production keep the key outside the data folder (for example on a secrets mount "
    "such as /run/secrets/gateway.key) and point the gateway at it with --key-file or "
    "GATEWAY_KEY_FILE; back it up apart from the data: without it nothing held can be read."
)
NO_REGISTER = "no register imported yet"
IMPORT_HINT = "run `gateway register import FILE`, or give scan --register FILE"


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
    """``keygen``, ``rekey`` and the ``quarantine`` group."""
    options = store_options()
    keygen = commands.add_parser(
        "keygen", parents=[options], help="write a new master key file (mode 0600)"
    )
    keygen.set_defaults(run=_keygen)
    rekey = commands.add_parser(
        "rekey", parents=[options], help="rotate the master key; the old one is kept aside"
    )
    rekey.set_defaults(run=_rekey)

    quarantine = commands.add_parser("quarantine", help="look at held messages")
    group = quarantine.add_subparsers(dest="quarantine_command", required=True)
    qlist = group.add_parser(
        "list", parents=[options], help="held messages: verdict, finding kinds, size"
    )
    qlist.add_argument("--status", choices=STATUSES, help="only messages in this status")
    qlist.add_argument("--limit", type=int, default=100)
    qlist.set_defaults(run=_quarantine_list)
    qshow = group.add_parser("show", parents=[options], help="one held message and its findings")
    qshow.add_argument("id")
    qshow.add_argument(
        "--show-evidence",
        action="store_true",
        help="also the envelope and matched text (for authorised reviewers only)",
    )
    qshow.set_defaults(run=_quarantine_show)


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
    """Data folder and key file from the flags, then ``GATEWAY_*``, then defaults."""
    return load_settings(flags={"data_dir": args.data_dir, "key_file": args.key_file})


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
        return await _versioned_register(store)

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
        return await _versioned_register(store)

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


# -- quarantine -----------------------------------------------------------------------


def _quarantine_list(args: argparse.Namespace) -> int:
    summaries = with_store(
        settings_from(args), lambda store: store.list_held(args.status, args.limit)
    )
    if not summaries:
        print("no messages")
    for summary in summaries:
        print(_summary_line(summary))
    return 0


def _quarantine_show(args: argparse.Namespace) -> int:
    msg = with_store(settings_from(args), lambda store: store.get(args.id))
    if msg is None:
        raise ConfigError(f"no message {args.id} in the quarantine")
    rules = ", ".join(msg.rules) or "-"
    print(f"{msg.id}: {msg.status}")
    print(f"  received {_when(msg.received_at)}; {len(msg.raw)} bytes; {len(msg.rcpt_tos)} rcpt")
    print(f"  action {msg.action}, severity {msg.severity}, rules: {rules}")
    for f in msg.findings:
        print(
            f"  finding {f.get('kind')} case={f.get('case') or '-'} at {f.get('location')} "
            f"confidence={f.get('confidence')} score={f.get('score')}"
        )
    if args.show_evidence:
        print(f"  mail from: {msg.mail_from}")
        print(f"  rcpt to: {', '.join(msg.rcpt_tos)}")
        for e in msg.evidence:
            where = f"{e.get('location')}[{e.get('start')}:{e.get('end')}]"
            print(f"  evidence #{e.get('finding')} {where}: {e.get('text')!r}")
    return 0


def _summary_line(summary: HeldSummary) -> str:
    rules = ",".join(summary.rules) or "-"
    kinds = ",".join(summary.finding_kinds) or "-"
    return (
        f"{summary.id}  {_when(summary.received_at)}  {summary.status}  {summary.severity}  "
        f"rules={rules}  findings={kinds}  {summary.size} bytes"
    )


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
