"""``python -m gateway.demo``: the gateway and a local upstream, for trying it out.

Starts a small SMTP server on 127.0.0.1:10026 that writes every message it receives
into ``DATA_DIR/delivered/`` (standing in for the organisation's mail server), then
runs ``gateway serve`` on 127.0.0.1:10025 relaying to it, with the example register.
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
    parser.add_argument("--sink-port", type=int, default=10026)
    args = parser.parse_args()
    logs.configure("info")
    delivered = args.data_dir / "delivered"
    sink = Controller(FolderSink(delivered), hostname="127.0.0.1", port=args.sink_port)
    sink.start()
    settings = load_settings(
        flags={
            "listen": "127.0.0.1:10025",
            "upstream": f"127.0.0.1:{args.sink_port}",
            "data_dir": args.data_dir,
            "register": args.register,
            "internal_domains": ["council.example.gov.uk"],
            "console": "127.0.0.1:8025",
            "console_url": "http://127.0.0.1:8025",
        }
    )
    print(
        f"gateway on 127.0.0.1:10025 -> upstream on 127.0.0.1:{args.sink_port}, "
        f"which writes delivered mail to {delivered}/\n"
        f"held mail: .venv/bin/gateway quarantine list --data-dir {args.data_dir}\n"
        "review console: http://127.0.0.1:8025/ (first account: .venv/bin/gateway user add "
        f"admin --email you@example.org --role admin --data-dir {args.data_dir})\n"
        "stop with Ctrl-C",
        flush=True,
    )
    try:
        asyncio.run(service.run(settings))
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
