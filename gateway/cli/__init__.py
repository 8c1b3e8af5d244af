"""Safe-Address Gateway: holds outgoing mail that would carry a protected person's
details to the wrong recipient.

Commands: scan (message files, without sending), serve (the SMTP proxy, with the
review console), milter (the same, as a Postfix or Sendmail milter), passwd (SMTP
AUTH users), policy check, register (check, import, diff, add, update, remove, list,
show, versions, rollback), keygen and rekey (the master key), store (migrate: a
single node's SQLite store into PostgreSQL), quarantine (list, show, release, reject,
false-positive, retry, purge, export), user (review accounts: add, alias, email, roles,
disable, enable, reset-password, totp, totp-off, list), audit (list, verify).
`gateway COMMAND --help` tells more.

Exit status: 0 done; 1 some input could not be read (scan), or a change not applied
(register, when answered no); 2 usage error, or an invalid register, policy or
setting (the message names the file, the place and what is wrong); 3 and 4 for
register ... --wait (not in force in time; no gateway running).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import __version__, logs
from gateway.cli import check, review, scan, serve, store
from gateway.errors import GatewayError

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"gateway: error: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="default: info for serve (a line per message, as an MTA logs), else warning",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    scan.add_parser(commands)
    serve.add_parser(commands)
    check.add_parsers(commands)
    store.add_parsers(commands)
    review.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level or getattr(args, "log_level_default", "warning"))
    try:
        status: int = args.run(args)
    except GatewayError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return status


if __name__ == "__main__":
    raise SystemExit(main())
