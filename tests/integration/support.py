"""Helpers for the integration tests: shared paths, register values, message builders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REGISTER = SHARED / "contracts" / "register.example.yaml"
CORPUS = SHARED / "corpus"

MARK = "mark.whitmore@example.com"  # restricted contact of DA-2025-0142
DAN = "dan.cole@example.com"  # restricted contact of CL-2025-0007
LANDLORD = "someone@landlord.example"  # external, in no case
CASEWORKER = "caseworker@council.example.gov.uk"  # allowed recipient of DA-2025-0142
SENDER = "worker@council.example.gov.uk"

SAFE_ADDRESS = "Flat 3, 27 Kingfisher Road, Leeds, LS6 3QT"
REFUGE_ADDRESS = "12 Example Street, Sheffield, S1 2AB"


@dataclass(frozen=True)
class CliRun:
    """What one ``gateway`` invocation returned and printed."""

    status: int
    out: str
    err: str

    @property
    def records(self) -> list[dict[str, Any]]:
        """The JSON lines on stdout, in order."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    @property
    def record(self) -> dict[str, Any]:
        """The only JSON line on stdout."""
        (only,) = self.records
        return only


@dataclass(frozen=True)
class Mail:
    """A message to write: the headers that matter and the text parts."""

    to: Sequence[str] = (MARK,)
    body: str = "Your appointment is on Tuesday at 10am."
    subject: str = "Appointment"
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    sender: str = SENDER
    attachments: dict[str, str] = field(default_factory=dict)


def build_message(mail: Mail) -> bytes:
    """The RFC 5322 bytes of ``mail``, built with the stdlib."""
    msg = EmailMessage()
    msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    if mail.bcc:
        msg["Bcc"] = ", ".join(mail.bcc)
    msg["Subject"] = mail.subject
    msg.set_content(mail.body)
    for filename, text in mail.attachments.items():
        msg.add_attachment(
            text.encode("utf-8"), maintype="text", subtype="plain", filename=filename
        )
    return bytes(msg)


def kinds_and_cases(record: dict[str, Any]) -> set[tuple[str, str | None]]:
    """The (kind, case) pairs of a scan record's findings."""
    return {(f["kind"], f["case"]) for f in record["findings"]}
