"""``gateway policy check [DIR]`` and ``gateway register check FILE``.

The stored-register commands (``register import|list|show|remove``) live in ``store``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.cli import store
from gateway.policy import default_policy_dir, load_policy
from gateway.register import load_register


def add_parsers(commands: Any) -> None:
    policy = commands.add_parser("policy", help="work with policy files")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate a policy folder")
    check.add_argument("dir", nargs="?", type=Path, default=None)
    check.set_defaults(run=_policy_check)

    register = commands.add_parser("register", help="check register files; the stored register")
    register_commands = register.add_subparsers(dest="register_command", required=True)
    rcheck = register_commands.add_parser("check", help="validate a register file")
    rcheck.add_argument("file", type=Path)
    rcheck.set_defaults(run=_register_check)
    store.add_register_parsers(register_commands)


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
    register = load_register(args.file)
    people = sum(len(case.protected) for case in register.cases)
    print(
        f"{args.file}: ok, {len(register.cases)} cases, {people} protected people, "
        f"{len(register.protected_locations)} protected locations"
    )
    return 0
