"""After a whole review session, protected values are still only in the sealed store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.console_support import (
    PASSWORD,
    console_gateway,
    csrf_token,
    high_hold,
    http_login,
)

CANARIES = [b"Kingfisher", b"LS6 3QT", b"mark.whitmore@example.com"]


def test_a_review_session_leaves_no_readable_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views, exports, a release and a reject whose reasons quote the address, notices:
    no canary in any file of the data folder, the gateway's log or a team notice."""
    monkeypatch.setenv("GATEWAY_REVIEW_TEAM", "review-team@council.example.gov.uk")
    with console_gateway(tmp_path) as g:
        critical, high = g.hold(), g.hold(high_hold())
        with httpx.Client(base_url=g.url, timeout=30) as client:
            assert 303 == http_login(client, "rita").status_code
            page = client.get(f"/messages/{critical}")
            assert b"Kingfisher" in page.content  # the reviewer does see it
            assert b"Kingfisher" in client.get(f"/messages/{critical}/export").content
            csrf = csrf_token(client, f"/messages/{high}")
            quoted = "the landlord may have 27 Kingfisher Road, LS6 3QT"
            for message_id, action in ((high, "release"), (critical, "reject")):
                done = client.post(
                    f"/messages/{message_id}/{action}",
                    data={
                        "csrf": csrf,
                        "reason": quoted,
                        "password": PASSWORD,
                    },
                )
                assert 303 == done.status_code, done.text
        audit = g.cli("audit", "list").stdout
        assert 2 == audit.count("Kingfisher")  # the auditor reads the reasons back
        files = [p for p in g.data_dir.rglob("*") if p.is_file()]
        assert any(p.name.endswith("sqlite3-wal") for p in files)
        for path in files:
            assert [] == [c for c in CANARIES if c in path.read_bytes()], path.name
        team = [m for m in g.upstream.messages if "review-team" in m.rcpt_tos[0]]
        assert 2 == len(team)
        for received in team:
            assert [] == [c for c in CANARIES if c in received.content]
        assert [] == [c for c in CANARIES if c in g.gateway.logs().encode()]
