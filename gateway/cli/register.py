"""``gateway register import|diff|add|update|remove|list|show|versions|rollback``: the
register in the store (``register check`` is in ``gateway/cli/check.py``).

A change that replaces the register (``import``, ``rollback``) first shows what it does
per case id; it needs a yes (asked on a terminal, else ``--yes``) and refuses to remove
more than ``register_max_shrink`` of the cases unless ``--allow-shrink``.

None of them prints a protected value: case ids, field names and counts only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import hashlib
import sys
from pathlib import Path
from typing import Any

from gateway.cli.store import NO_REGISTER, cli_actor, settings_from, store_options, with_store
from gateway.cli.wait import add_wait_options, wait_in_force
from gateway.errors import ConfigError, RegisterError
from gateway.register import Case, Register
from gateway.register.checks import check_register
from gateway.register.diff import (
    RegisterDiff,
    canonical,
    diff_registers,
    shrink_refusal,
    summary_lines,
)
from gateway.register.load import RegisterFile, read_register_file
from gateway.review import record_event
from gateway.settings import Settings
from gateway.store import Store
from gateway.store.registers import Origin, RegisterSource

_FILE_HELP = "a register file: YAML, JSON, or CSV with --mapping"


def add_register_parsers(register_commands: Any) -> None:
    """``register import|diff|add|update|list|show|remove|versions|rollback``, under the
    existing ``register`` group."""
    store, reading, replacing = store_options(), _reading_options(), _replacing_options()
    add = register_commands.add_parser
    rimport = add(
        "import",
        parents=[store, reading, replacing],
        help="show what a register file changes, then store it as the new version",
    )
    rimport.add_argument("file", type=Path, help=_FILE_HELP)
    add_wait_options(rimport)
    rimport.set_defaults(run=_register_import)
    _add_file_parsers(add, store, reading)
    _add_version_parsers(add, store, replacing)


def _add_file_parsers(
    add: Any, store: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    """``register diff|add|update FILE``."""
    rdiff = add(
        "diff",
        parents=[store, reading],
        help="per case id: what importing a file would add, remove and change (field names)",
    )
    rdiff.add_argument("file", type=Path, help=_FILE_HELP)
    rdiff.set_defaults(run=_register_diff)
    for mode, what in (("add", "add the file's cases"), ("update", "replace the file's cases")):
        change = add(mode, parents=[store, reading], help=f"{what}; the others stay as they are")
        change.add_argument("file", type=Path, help=_FILE_HELP)
        add_wait_options(change)
        change.set_defaults(run=_register_change, mode=mode)


def _add_version_parsers(
    add: Any, store: argparse.ArgumentParser, replacing: argparse.ArgumentParser
) -> None:
    """``register list|show|remove|versions|rollback``."""
    add("list", parents=[store], help="case ids with counts (no names or addresses)").set_defaults(
        run=_register_list
    )
    rshow = add(
        "show",
        parents=[store],
        help="field names and counts of one case; protected values are never shown",
    )
    rshow.add_argument("case", help="the case id")
    rshow.set_defaults(run=_register_show)
    rremove = add("remove", parents=[store], help="store a new register version without a case")
    rremove.add_argument("case", help="the case id (or protected location id)")
    add_wait_options(rremove)
    rremove.set_defaults(run=_register_remove)
    add(
        "versions", parents=[store], help="the versions kept: when, who, from what, digest"
    ).set_defaults(run=_register_versions)
    rollback = add(
        "rollback",
        parents=[store, replacing],
        help="make an old version current again (as a new version with its exact content)",
    )
    rollback.add_argument(
        "version", type=int, help="the version to restore (see register versions)"
    )
    add_wait_options(rollback)
    rollback.set_defaults(run=_register_rollback)


def _reading_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--format", choices=["yaml", "json", "csv"], help="the file's format (default: its suffix)"
    )
    options.add_argument(
        "--mapping", type=Path, metavar="MAP.yaml", help="for CSV: which column holds what"
    )
    return options


def _replacing_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--yes", "-y", action="store_true", help="apply without asking (needed without a terminal)"
    )
    options.add_argument(
        "--allow-shrink",
        action="store_true",
        help="allow removing more than register_max_shrink of the cases",
    )
    return options


def _register_import(args: argparse.Namespace) -> int:
    """Show what the file changes against the current version; with a yes, store it as
    the next version (a first import needs none: it replaces nothing)."""
    settings = settings_from(args)

    async def compare(store: Store) -> tuple[RegisterFile, str, int, RegisterDiff]:
        file, digest = await asyncio.to_thread(_read, args)
        return file, digest, *await store.compare_register(file.register)

    file, digest, base, diff = with_store(settings, compare, create=True)
    if base and not _approved(args, settings, str(args.file), base, diff):
        return 0 if diff.empty else 1
    path = str(args.file.resolve())
    origin = Origin(cli_actor(), "import", path, digest, file=path)
    keep = settings.register_keep_versions
    version = with_store(
        settings,
        lambda store: _replace(
            store, file.text, file.format, file.register, origin, base, diff, keep
        ),
    )
    print(f"{args.file}: imported as register version {version}, {_totals(file.register)}")
    _warn(args.file, file.register)
    return _waited(args, settings, version)


def _register_diff(args: argparse.Namespace) -> int:
    file, _ = _read(args)
    base, diff = with_store(
        settings_from(args), lambda store: store.compare_register(file.register)
    )
    print(f"{args.file} against register version {base}:")
    print("\n".join(summary_lines(diff)))
    if diff.empty:
        print(f"{args.file}: the same as register version {base}")
    return 0


def _register_change(args: argparse.Namespace) -> int:
    """``add`` or ``update``: the file's cases (and protected locations) only."""
    settings = settings_from(args)
    file, digest = _read(args)
    origin = Origin(cli_actor(), args.mode, str(args.file.resolve()), digest)

    async def work(store: Store) -> tuple[int, RegisterDiff]:
        keep = settings.register_keep_versions
        version, diff = await store.change_cases(file.register, args.mode, origin, keep)
        if version:
            await record_event(
                store,
                origin.actor,
                f"register-{args.mode}",
                f"register:{version}",
                f"{args.file.name}: {diff.counts()}",
            )
        return version, diff

    version, diff = with_store(settings, work)
    print("\n".join(summary_lines(diff)))
    if not version:
        print(f"{args.file}: its cases are in the register already as they are; nothing stored")
    else:
        print(f"{args.file}: register version {version}")
        _warn(args.file, file.register)
    return _waited(args, settings, version)


def _register_versions(args: argparse.Namespace) -> int:
    versions = with_store(settings_from(args), lambda store: store.register_versions())
    if not versions:
        raise ConfigError(NO_REGISTER)
    print(
        f"{'version':>7}  {'made':<20}  {'by':<16}  {'action':<8}  {'cases':>7}  digest        from"
    )
    for number, v in enumerate(versions):
        when = v.imported_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        current = "  (current)" if number == 0 else ""
        print(
            f"{v.version:>7}  {when:<20}  {v.actor or '-':<16}  {v.action:<8}  {v.cases:>7}  "
            f"{v.digest[:12]:<12}  {v.source or '-'}{current}"
        )
    return 0


def _register_rollback(args: argparse.Namespace) -> int:
    """A new version with the exact text of version ``args.version``, after the same
    summary and yes as an import."""
    settings = settings_from(args)

    async def compare(store: Store) -> tuple[int, RegisterDiff, RegisterSource, Register]:
        source = await store.register_source(args.version)
        if source is None:
            raise ConfigError(f"no register version {args.version} (see register versions)")
        old = await asyncio.to_thread(source.parse)
        base, diff = await store.compare_register(old)
        if base == args.version:
            raise ConfigError(f"register version {base} is the current one already")
        return base, diff, source, old

    base, diff, source, old = with_store(settings, compare)
    if not _approved(args, settings, f"register version {args.version}", base, diff):
        return 0 if diff.empty else 1
    origin = Origin(cli_actor(), "rollback", f"version {args.version}")
    keep = settings.register_keep_versions
    version = with_store(
        settings,
        lambda store: _replace(store, source.text, source.format, old, origin, base, diff, keep),
    )
    print(f"register version {version} has the content of version {args.version}, {_totals(old)}")
    return _waited(args, settings, version)


def _waited(args: argparse.Namespace, settings: Settings, version: int) -> int:
    """With ``--wait``: the exit status once the running gateway has ``version`` in
    force (or why not); else 0.  Version 0: nothing was stored, nothing to wait for."""
    return wait_in_force(settings, version, args.timeout) if args.wait and version else 0


_SHOWN_WARNINGS = 10


def _warn(file: Path, register: Register) -> None:
    """The file's warnings (``register check`` lists them all, with lines): the first
    few and their number."""
    concerns = check_register(register)
    for concern in concerns[:_SHOWN_WARNINGS]:
        print(f"{file}: warning: case {concern.case}: {concern.field}: {concern.text}")
    if len(concerns) > _SHOWN_WARNINGS:
        print(f"{file}: {len(concerns)} warnings in all (gateway register check {file})")


def _read(args: argparse.Namespace) -> tuple[RegisterFile, str]:
    """The register file named on the command line, validated; the SHA-256 of its bytes."""
    try:
        digest = hashlib.sha256(args.file.read_bytes()).hexdigest()
    except OSError as exc:
        reason = f"cannot read register: {exc.__class__.__name__}"
        raise RegisterError(str(args.file), None, reason) from exc
    file = read_register_file(args.file, fmt=args.format, mapping=args.mapping)
    # Millions of objects that live as long as the command: each full collection would
    # walk them all again (over a second at 100,000 cases).  Freed by reference counts.
    gc.freeze()
    return file, digest


def _approved(
    args: argparse.Namespace, settings: Settings, what: str, base: int, diff: RegisterDiff
) -> bool:
    """Print the change; refuse too large a shrink; then ``--yes``, or ask on a terminal.
    False for no, and for an empty change (said, and nothing stored)."""
    print(f"{what} against register version {base}:")
    print("\n".join(summary_lines(diff)))
    if diff.empty:
        print(f"{what}: the same as register version {base}; nothing stored")
        return False
    refusal = shrink_refusal(diff, settings.register_max_shrink)
    if refusal and not args.allow_shrink:
        raise ConfigError(
            f"{what} not applied: {refusal}; check it, or pass --allow-shrink if that is meant"
        )
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("nothing applied: pass --yes to apply this change without a terminal")
    try:
        answer = input(f"Make this register version {base + 1}? [y/N] ")
    except EOFError:  # the terminal closed: no answer is a no
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("nothing applied")
    return False


async def _replace(
    store: Store,
    text: str,
    fmt: str,
    register: Register,
    origin: Origin,
    base: int,
    diff: RegisterDiff,
    keep: int,
) -> int:
    """Store ``text`` as the version after ``base`` (unless another came meanwhile),
    trim old versions beyond ``keep``, audit the counts; the new version."""
    form = await asyncio.to_thread(canonical, register)
    version = await store.save_register(
        text, fmt, len(register.cases), origin, after=base, keep=keep, canonical_text=form
    )
    name = Path(origin.source).name if origin.file else origin.source
    await record_event(
        store,
        origin.actor,
        f"register-{origin.action}",
        f"register:{version}",
        f"{name}: {diff.counts()}",
    )
    return version


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
    settings = settings_from(args)

    async def work(store: Store) -> tuple[int, Register]:
        base, before = await _versioned_register(store)
        origin = Origin(cli_actor(), "remove", f"version {base} without {args.case}")
        await store.remove_case(args.case, origin, settings.register_keep_versions)
        version, register = await _versioned_register(store)
        counts = diff_registers(before, register).counts()
        await record_event(
            store, origin.actor, "register-remove", f"register:{version}", f"{args.case}: {counts}"
        )
        return version, register

    version, register = with_store(settings, work)
    print(f"removed case {args.case}: register version {version}, {_totals(register)}")
    return _waited(args, settings, version)


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
