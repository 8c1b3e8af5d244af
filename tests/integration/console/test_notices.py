"""Notices from a running gateway, through its upstream: team, sender, never recipients."""

from __future__ import annotations

import email
import time
from pathlib import Path

import pytest

from tests.integration.console_support import PASSWORD, SENDER, console_gateway
from tests.integration.smtp_support import Received
from tests.integration.support import MARK, SAFE_ADDRESS

TEAM = "safeguarding-review@council.example.gov.uk"


def _wait_for(upstream: list[Received], count: int) -> list[Received]:
    deadline = time.monotonic() + 10
    while len(upstream) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(upstream)


def test_a_hold_and_a_rejection_send_notices_without_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the team (count, severity, link) and the sender are told; rejected: the
    sender gets the note written for them, not the audit reason; the recipient gets
    nothing, and no notice carries content."""
    monkeypatch.setenv("GATEWAY_REVIEW_TEAM", TEAM)
    monkeypatch.setenv("GATEWAY_NOTIFY_SENDER_ON_HOLD", "true")
    monkeypatch.setenv("GATEWAY_CONSOLE_URL", "https://gateway.example:8443")
    with console_gateway(tmp_path) as g:
        message_id = g.hold()
        first_two = _wait_for(g.upstream.messages, 2)
        assert [[TEAM], [SENDER]] == [m.rcpt_tos for m in first_two]
        team = first_two[0]
        notice = email.message_from_bytes(team.content)
        assert "severity critical (1 waiting)" in str(notice["Subject"])
        assert f"https://gateway.example:8443/messages/{message_id}" in notice.get_payload()
        rejected = g.cli(
            "quarantine",
            "reject",
            message_id,
            "--reason",
            f"she is at {SAFE_ADDRESS}",  # for the audit log only: never emailed
            "--notify-sender",
            "--sender-note",
            "Use the portal.",
            "--user",
            "rita",
            "--upstream",
            f"127.0.0.1:{g.upstream_port}",
            stdin=PASSWORD + "\n",
        )
        assert 0 == rejected.returncode, rejected.stderr
        notices = _wait_for(g.upstream.messages, 3)
        assert [SENDER] == notices[2].rcpt_tos
        assert b"Use the portal." in notices[2].content
        for received in notices:
            assert MARK not in received.rcpt_tos
            assert SAFE_ADDRESS.encode() not in received.content
            assert MARK.encode() not in received.content
            assert b"Tenancy details" not in received.content  # the held subject
