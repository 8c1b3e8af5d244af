"""``gateway serve`` (the SMTP proxy) and ``gateway milter`` (see ``gateway/service.py``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from gateway import service
from gateway.cli.scan import add_internal_domain
from gateway.cli.store import add_store_flag, read_secret
from gateway.errors import ConfigError
from gateway.settings import load_settings
from gateway.smtp.auth import hash_password


def add_parser(commands: Any) -> None:
    p = commands.add_parser("serve", help="run the SMTP proxy in front of the upstream MTA")
    p.add_argument("--config", type=Path, help="TOML settings file (see deploy/)")
    p.add_argument("--listen", metavar="HOST:PORT", help="where clients connect (127.0.0.1:10025)")
    p.add_argument("--upstream", metavar="HOST:PORT", help="the MTA mail is relayed to")
    p.add_argument(
        "--milter", metavar="unix:PATH|inet:HOST:PORT", help="also serve MTAs as a milter"
    )
    _add_common(p)
    p.set_defaults(run=run, log_level_default="info", smtp_proxy=True)

    m = commands.add_parser("milter", help="run as a milter for Postfix or Sendmail")
    m.add_argument("--config", type=Path, help="TOML settings file (see deploy/)")
    m.add_argument(
        "--listen",
        dest="milter",
        metavar="unix:PATH|inet:HOST:PORT",
        help="where the MTA connects (settings: milter)",
    )
    m.add_argument("--upstream", metavar="HOST:PORT", help="where released mail is re-injected")
    _add_common(m)
    m.set_defaults(run=run, log_level_default="info", smtp_proxy=False, listen=None)

    w = commands.add_parser("passwd", help="add or change an SMTP AUTH user (password on stdin)")
    w.add_argument("users_file", type=Path, help="the users file (settings: auth_users)")
    w.add_argument("user", help="the SMTP AUTH user name")
    w.set_defaults(run=passwd)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="store folder (GATEWAY_DATA_DIR, else ./data)")
    p.add_argument("--key-file", type=Path, help="master key (default: DATA_DIR/master.key)")
    add_store_flag(p)
    p.add_argument("--register", type=Path, help="register file imported at start")
    p.add_argument("--policies", type=Path, help="policy folder (default: the shipped one)")
    add_internal_domain(p)
    p.add_argument("--console", metavar="HOST:PORT", help="review console address")
    p.add_argument("--metrics", metavar="HOST:PORT", help="Prometheus metrics address")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(
        args.config,
        flags={
            "listen": args.listen,
            "upstream": args.upstream,
            "data_dir": args.data_dir,
            "key_file": args.key_file,
            "store": args.store,
            "register": args.register,
            "policies": args.policies,
            "internal_domains": args.internal_domain,
            "console": args.console,
            "metrics": args.metrics,
            "milter": args.milter,
        },
    )
    if not args.smtp_proxy and settings.milter is None:
        raise ConfigError("gateway milter needs --listen unix:PATH or inet:HOST:PORT")
    asyncio.run(service.run(settings, smtp_proxy=args.smtp_proxy))
    return 0


def passwd(args: argparse.Namespace) -> int:
    """Write ``user:hash`` into the users file, replacing an earlier line for that user."""
    password = read_secret()
    if len(password) < 12:
        raise ConfigError("a password needs at least 12 characters")
    path: Path = args.users_file
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in lines if line.partition(":")[0] != args.user]
    kept.append(f"{args.user}:{hash_password(password)}")
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    path.chmod(0o600)
    print(f"{path}: user {args.user} set")
    return 0
