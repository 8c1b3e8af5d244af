"""A running gateway with its review console, a recording upstream sink, and accounts.

``console_gateway()`` starts ``gateway serve`` (SMTP and console on free loopback ports)
in front of the ``sink()`` of ``smtp_support``, creates one account per role with the
``gateway user`` command, and holds messages by sending them through the gateway.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.integration.smtp_support import (
    GATEWAY,
    Gateway,
    SinkHandler,
    free_port,
    sink,
    start_gateway,
)
from tests.integration.support import MARK, SAFE_ADDRESS

PASSWORD = "correct horse battery staple"
SENDER = "officer@council.example.gov.uk"
#: account name -> (roles, email); "officer" is the sender of the messages held below
ACCOUNTS = {
    "rita": ("reviewer", "rita@council.example.gov.uk"),
    "rob": ("reviewer", "rob@council.example.gov.uk"),
    "sue": ("senior", "sue@council.example.gov.uk"),
    "officer": ("senior", SENDER),
    "aud": ("auditor", "aud@council.example.gov.uk"),
    "ada": ("admin", "ada@council.example.gov.uk"),
}


@dataclass
class ConsoleGateway:
    """The gateway under test: SMTP port, console URL, data folder, upstream sink."""

    gateway: Gateway
    url: str
    data_dir: Path
    upstream: SinkHandler
    upstream_port: int = 0

    @property
    def smtp_port(self) -> int:
        return self.gateway.port

    def send(self, message: EmailMessage, to: tuple[str, ...] = ()) -> str:
        """Send through the gateway to ``to`` (default: the To header's addresses); the
        reply text to the final dot (``queued as Q...`` when held)."""
        recipients = to or tuple(a.addr_spec for a in message["To"].addresses)
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            client.ehlo("test.client")
            client.mail(SENDER)
            for rcpt in recipients:
                client.rcpt(rcpt)
            code, reply = client.data(message.as_bytes())
        assert 250 == code, reply
        return reply.decode()

    def hold(self, message: EmailMessage | None = None, to: tuple[str, ...] = ()) -> str:
        """Send a message that the gateway holds; its quarantine id."""
        reply = self.send(message or leak(), to)
        assert "queued as Q" in reply, reply
        return reply.rsplit(" ", 1)[-1]

    def cli(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run the ``gateway`` command against this gateway's data folder."""
        return subprocess.run(
            [str(GATEWAY), *argv, "--data-dir", str(self.data_dir)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def leak(subject: str = "Tenancy details", body: str = "", sender_name: str = "") -> EmailMessage:
    """A message to the restricted contact carrying the protected address: a critical hold."""
    message = EmailMessage()
    message["From"] = f"{sender_name} <{SENDER}>" if sender_name else SENDER
    message["To"] = MARK
    message["Subject"] = subject
    message.set_content(body or f"Hello,\n\nShe now lives at {SAFE_ADDRESS}.\n\nRegards\n")
    return message


def high_hold(subject: str = "New tenancy") -> EmailMessage:
    """A message to an outside landlord carrying the protected address: a high (not
    critical) hold, which one reviewer may release."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "lettings@landlord.example"
    message["Subject"] = subject
    message.set_content(f"Please set up the tenancy.\n\nAddress: {SAFE_ADDRESS}\n")
    return message


@contextlib.contextmanager
def console_gateway(
    tmp_path: Path, *extra: str, console_port: int = 0, env: dict[str, str] | None = None
) -> Iterator[ConsoleGateway]:
    """The gateway with its console (on ``console_port``, or a free one), ``env`` added
    to its environment, and one account per entry of ``ACCOUNTS``."""
    data_dir = tmp_path / "data"
    console_port = console_port or free_port()
    with sink() as (upstream, upstream_port):
        gateway = start_gateway(
            data_dir, upstream_port, "--console", f"127.0.0.1:{console_port}", *extra, env=env
        )
        try:
            _wait_for_port(console_port)
            running = ConsoleGateway(
                gateway, f"http://127.0.0.1:{console_port}", data_dir, upstream, upstream_port
            )
            for name, (roles, email) in ACCOUNTS.items():
                added = running.cli(
                    "user", "add", name, "--email", email, "--role", roles, stdin=PASSWORD + "\n"
                )
                assert 0 == added.returncode, added.stderr
            yield running
        finally:
            gateway.stop()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the console did not listen on port {port}")


def http_login(
    client: httpx.Client, name: str, password: str = PASSWORD, code: str = ""
) -> httpx.Response:
    """Log ``client`` in through the login form; the response to the form.  Cookies are
    set by hand: httpx does not send Secure cookies it got over plain HTTP."""
    token = client.get("/login").cookies["__Host-login"]
    client.cookies.set("__Host-login", token)
    done = client.post(
        "/login", data={"name": name, "password": password, "code": code, "csrf": token}
    )
    if done.status_code == 303:
        client.cookies.set("__Host-session", done.cookies["__Host-session"])
    return done


def csrf_token(client: httpx.Client, path: str) -> str:
    """The CSRF token in the forms of the page at ``path``."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None, f"no form on {path}"
    return found.group(1)
