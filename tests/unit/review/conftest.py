"""A real store in a temporary folder, an in-memory upstream, accounts for each role."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest_asyncio

from gateway.crypto import KeyRing
from gateway.review import DeliveryError, Review, Role, User, accounts
from gateway.store import HeldMessage, Store, new_message_id
from tests.store_support import open_test_store

PASSWORD = "a long enough password"
SENDER = "officer@council.example.gov.uk"
RCPT = "mark.whitmore@example.com"
CANARY = "27 Kingfisher Road"


@dataclass
class FakeUpstream:
    """A ``Deliverer`` that records what it is given, or refuses while ``down`` (for
    good while ``refusing``)."""

    down: bool = False
    refusing: bool = False
    sent: list[tuple[str, tuple[str, ...], bytes]] = field(default_factory=list)

    async def __call__(self, mail_from: str, rcpt_tos: Sequence[str], message: bytes) -> None:
        if self.refusing:
            raise DeliveryError("the upstream refused the recipient (550)", permanent=True)
        if self.down:
            raise DeliveryError("the upstream refused the message (451)")
        self.sent.append((mail_from, tuple(rcpt_tos), message))


def held(severity: str = "high", sender: str = SENDER, days_old: float = 0) -> HeldMessage:
    received = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_old)
    return HeldMessage(
        id=new_message_id(received.timestamp()),
        received_at=received,
        mail_from=sender,
        rcpt_tos=(RCPT,),
        raw=(
            f"From: {sender}\r\nTo: {RCPT}\r\nSubject: x\r\n\r\nShe lives at {CANARY}.\r\n"
        ).encode(),
        action="quarantine",
        severity=severity,
        rules=("restricted-recipient-protected-data",),
        findings=[
            {
                "kind": "address",
                "case": "DA-2025-0142",
                "location": "body",
                "confidence": "high",
                "score": 100,
            }
        ],
        evidence=[{"finding": 0, "location": "body", "start": 13, "end": 31, "text": CANARY}],
    )


@pytest_asyncio.fixture
async def store(tmp_path: Path, store_url: str) -> AsyncIterator[Store]:
    """A new store on each database (SQLite, PostgreSQL), closed after the test."""
    opened = await open_test_store(store_url, tmp_path, KeyRing.generate(tmp_path / "key"))
    yield opened
    await opened.close()


@pytest_asyncio.fixture
async def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest_asyncio.fixture
async def review(store: Store, upstream: FakeUpstream) -> Review:
    return Review(store, upstream, retry_after=0.0)


@pytest_asyncio.fixture
async def people(store: Store) -> dict[str, User]:
    """rita and rob (reviewers), sue (senior), officer (senior, the sender), aud, ada."""
    roles = {
        "rita": (Role.REVIEWER,),
        "rob": (Role.REVIEWER,),
        "sue": (Role.SENIOR,),
        "officer": (Role.SENIOR,),
        "aud": (Role.AUDITOR,),
        "ada": (Role.ADMIN,),
    }
    out = {}
    for name, held_roles in roles.items():
        email = SENDER if name == "officer" else f"{name}@council.example.gov.uk"
        out[name] = await accounts.add_user(store, name, email, frozenset(held_roles), PASSWORD)
    return out
