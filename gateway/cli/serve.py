"""``gateway serve``: the SMTP proxy (see ``gateway/service.py``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from gateway import service
from gateway.settings import load_settings


def add_parser(commands: Any) -> None:
    p = commands.add_parser("serve", help="run the SMTP proxy in front of the upstream MTA")
    p.add_argument("--config", type=Path, help="TOML settings file (see deploy/)")
    p.add_argument("--listen", metavar="HOST:PORT", help="where clients connect (127.0.0.1:10025)")
    p.add_argument("--upstream", metavar="HOST:PORT", help="the MTA mail is relayed to")
    p.add_argument("--data-dir", type=Path, help="store folder (GATEWAY_DATA_DIR, else ./data)")
    p.add_argument("--key-file", type=Path, help="master key (default: DATA_DIR/master.key)")
    p.add_argument("--register", type=Path, help="register file imported at start")
    p.add_argument("--policies", type=Path, help="policy folder (default: the shipped one)")
    p.add_argument("--internal-domain", action="append", default=[], metavar="DOMAIN")
    p.add_argument("--console", metavar="HOST:PORT", help="review console address")
    p.add_argument("--metrics", metavar="HOST:PORT", help="Prometheus metrics address")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(
        args.config,
        flags={
            "listen": args.listen,
            "upstream": args.upstream,
            "data_dir": args.data_dir,
            "key_file": args.key_file,
            "register": args.register,
            "policies": args.policies,
            "internal_domains": args.internal_domain,
            "console": args.console,
            "metrics": args.metrics,
        },
    )
    asyncio.run(service.run(settings))
    return 0
