"""``gateway policy check [DIR]`` and ``gateway register check FILE``.

``register check`` prints every error of a register file (to stderr, one per line:
``file:line[:column]: case ID: field: reason``) and exits 2; a file that loads gets its
warnings (``checks``) on stdout, one per line, and exit 0.  Never a value: case ids,
field names and counts only.  The stored-register commands (``register import|list|
show|remove``) live in ``store``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.cli import register as register_cli
from gateway.errors import RegisterError, RegisterErrors
from gateway.policy import default_policy_dir, load_policy
from gateway.register.checks import check_register
from gateway.register.load import read_register_placed

INVALID = 2  # as every command exits for an invalid register (``gateway.cli``)


def add_parsers(commands: Any) -> None:
    policy = commands.add_parser("policy", help="work with policy files")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate a policy folder")
    check.add_argument(
        "dir", nargs="?", type=Path, default=None, help="policy folder (default: the shipped one)"
    )
    check.set_defaults(run=_policy_check)

    register = commands.add_parser("register", help="check register files; the stored register")
    register_commands = register.add_subparsers(dest="register_command", required=True)
    rcheck = register_commands.add_parser(
        "check", help="validate a register file: every error, then warnings"
    )
    rcheck.add_argument("file", type=Path, help="the register file (YAML, JSON or CSV)")
    rcheck.add_argument(
        "--format", choices=["yaml", "json", "csv"], help="the file's format (default: its suffix)"
    )
    rcheck.add_argument(
        "--mapping", type=Path, metavar="MAP.yaml", help="for CSV: which column holds what"
    )
    rcheck.set_defaults(run=_register_check)
    register_cli.add_register_parsers(register_commands)


def _policy_check(args: argparse.Namespace) -> int:
    folder = args.dir or default_policy_dir()
    policy = load_policy(folder)
    enabled = [rule for rule in policy.rules if rule.enabled]
    print(f"{folder}: ok, {len(enabled)} rules enabled")
    for rule in enabled:
        mode = " (monitor)" if rule.mode == "monitor" else ""
        print(f"  {rule.id}: {rule.action}{mode}")
    return 0


def _register_check(args: argparse.Namespace) -> int:
    """Errors -> stderr and exit 2; otherwise the summary and warnings, exit 0."""
    try:
        source, place = read_register_placed(args.file, fmt=args.format, mapping=args.mapping)
    except RegisterError as exc:
        errors = exc.errors if isinstance(exc, RegisterErrors) else [exc]
        for error in errors:
            print(f"gateway: error: {error}", file=sys.stderr)
        print(f"{args.file}: {_count(len(errors), 'error')}, not loaded", file=sys.stderr)
        return INVALID
    register = source.register
    concerns = check_register(register)
    for concern in concerns:
        line, column = place(concern.loc)
        where = str(args.file) + "".join(f":{n}" for n in (line, column) if n is not None)
        print(f"{where}: warning: case {concern.case}: {concern.field}: {concern.text}")
    people = sum(len(case.protected) for case in register.cases)
    print(
        f"{args.file}: ok, {len(register.cases)} cases, {people} protected people, "
        f"{len(register.protected_locations)} protected locations, "
        f"{_count(len(concerns), 'warning')}"
    )
    return 0


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"
