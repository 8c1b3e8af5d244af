"""``python -m gateway.demo``: the gateway and a local upstream, for trying it out.

Starts a small SMTP server on 127.0.0.1:10026 (``--sink-port``) that writes every
message it receives into ``DATA_DIR/delivered/`` (standing in for the organisation's
mail server), then runs ``gateway serve`` on 127.0.0.1:10025 (``--listen``) relaying to
it, with the example register and the console on 127.0.0.1:8025 (``--console``).  A
port in use stops it with one line, before anything is written.
Held messages stay in the encrypted store: ``gateway quarantine list``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway import logs, service
from gateway.errors import ConfigError
from gateway.listeners import Listeners, listening
from gateway.settings import load_settings


class FolderSink:
    """Writes each accepted message to a file of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**9:09d}.eml"
        (self.folder / name).write_bytes(envelope.original_content or b"")
        return f"250 2.0.0 Ok: queued as {name[:-4]}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.demo", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--register", type=Path, required=True)
    parser.add_argument("--listen", default="127.0.0.1:10025", metavar="HOST:PORT")
    parser.add_argument("--console", default="127.0.0.1:8025", metavar="HOST:PORT")
    parser.add_argument("--sink-port", type=int, default=10026)
    args = parser.parse_args()
    logs.configure("info")
    try:
        settings = load_settings(
            flags={
                "listen": args.listen,
                "upstream": f"127.0.0.1:{args.sink_port}",
                "data_dir": args.data_dir,
                "register": args.register,
                "internal_domains": ["council.example.gov.uk"],
                "console": args.console,
                "console_url": f"http://{args.console}",
            }
        )
        # Before anything is made in the data folder: every port free, or one line.
        Listeners.bind(settings).close()
        listening("127.0.0.1", args.sink_port, "upstream (SINK_PORT)").close()
    except ConfigError as exc:
        hint = "choose others: make run LISTEN=HOST:PORT CONSOLE=HOST:PORT SINK_PORT=PORT"
        raise SystemExit(f"make run: {exc}; {hint}") from None
    delivered = args.data_dir / "delivered"
    sink = Controller(FolderSink(delivered), hostname="127.0.0.1", port=args.sink_port)
    sink.start()
    print(
        f"gateway on {args.listen} -> upstream on 127.0.0.1:{args.sink_port}, "
        f"which writes delivered mail to {delivered}/\n"
        f"held mail: .venv/bin/gateway quarantine list --data-dir {args.data_dir}\n"
        f"review console: http://{args.console}/ (first account: .venv/bin/gateway user add "
        f"admin --email you@example.org --role admin --data-dir {args.data_dir})\n"
        "stop with Ctrl-C",
        flush=True,
    )
    try:
        asyncio.run(service.run(settings))
    except ConfigError as exc:
        raise SystemExit(f"make run: {exc}") from None
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
