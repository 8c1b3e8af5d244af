"""Issue 12, end to end: leaks in pictures, scans and redactions that hide nothing.

Real images made by the tests (``tests/imagegen``: a Debian font at 150, 200 and 300
dpi, turned 2-3 degrees, noise, JPEG artefacts) and PDFs (``tests/pdfgen``: scanned
pages with no text layer, a black box drawn over the address), sent as users send them:
through ``gateway scan --json`` in a subprocess, and through a served gateway with a
real SMTP delivery upstream.  Every leak is held; its benign twin, the same letter
with another person's address, is delivered.
"""

# expected == actual is the project's test style (STYLE.md); SIM300 calls it Yoda.

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from functools import cached_property, partial
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.shared import Inches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.crypto import KeyRing
from gateway.envelope import Envelope
from gateway.match import Index, build_index
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.register import load_register
from gateway.scan import ScanSettings, scan
from gateway.store import Store
from tests import imagegen, pdfgen
from tests.imagegen import Scan, encode, render
from tests.integration.smtp_support import GATEWAY, REPO, Gateway, SinkHandler
from tests.integration.support import CASEWORKER, LANDLORD, MARK, REGISTER

SENDER = "worker@council.example.gov.uk"
INTERNAL = "council.example.gov.uk"
CASE = "DA-2025-0142"
#: the protected address of DA-2025-0142 in the example register, as a letter sets it
LEAK = ["Flat 3", "27 Kingfisher Road", "Leeds LS6 3QT"]
#: the twin's: someone else's address, in no register
TWIN = ["Flat 9", "41 Heron Close", "Bradford BD7 1AX"]
HELD, SENT = "quarantine", "deliver"
#: the line of ``report()`` that carries the address
ADDRESS_LINE = 2


def letter(address: Sequence[str]) -> list[str]:
    """A short housing letter about a move to ``address``; names no protected person."""
    return [
        "Housing Options - change of address",
        "The tenant has moved to the address below:",
        *address,
        "Please update your records.",
    ]


# -- what the tests send ---------------------------------------------------------


def picture(address: Sequence[str], look: Scan, fmt: str = "PNG") -> bytes:
    """The letter as an image file, scanned as ``look`` says."""
    return encode(render(letter(address), look), fmt)


def scanned_pdf(address: Sequence[str]) -> bytes:
    """A two-page PDF of scanned pages, no text layer; the address on the second."""
    look = Scan(dpi=200, angle=2.0, gauss=8.0, jpeg=50, page=True, seed=7)
    cover = render(["Housing Options", "Case file copy", "Page 1 of 2"], look)
    return pdfgen.scanned_pdf([cover, render(letter(address), look)], dpi=200)


def docx_with_scan(address: Sequence[str]) -> bytes:
    """A Word letter whose text names no one, with the scanned letter pasted in."""
    document = Document()
    document.add_paragraph("Please find the scanned letter below.")
    look = Scan(dpi=200, angle=-2.5, gauss=8.0, jpeg=60, seed=3)
    document.add_picture(BytesIO(picture(address, look)), width=Inches(5))
    out = BytesIO()
    document.save(out)
    return out.getvalue()


BLACK_BOX = pdfgen.Hide(how="box", grey=0.0)


def boxed_pdf(address: Sequence[str], hide: pdfgen.Hide = BLACK_BOX) -> bytes:
    """A report whose address line is in the text layer under a black box (or hidden
    another way ``hide`` says)."""
    return pdfgen.report(report(address), replace(hide, line=ADDRESS_LINE))


def report(address: Sequence[str]) -> list[str]:
    """The letter with the address on one line (the line a redaction covers)."""
    lines = letter([", ".join(address)])
    assert ", ".join(address) == lines[ADDRESS_LINE]
    return lines


def highlighted_docx(address: Sequence[str]) -> bytes:
    """A Word letter whose address run is "redacted" with a black highlight over black
    text: Word shows a black bar, the text is in the file."""
    before, *_rest = letter([])
    runs = [pdfgen.Run("The tenant has moved to "), pdfgen.Run(", ".join(address), "highlight")]
    return pdfgen.docx([[pdfgen.Run(before)], runs])


@dataclass(frozen=True)
class Sent:
    """One message of the table below: a file made from an address, to whom, what must
    happen.  The file is made when first needed, not when the tests are collected."""

    name: str
    filename: str
    make: Callable[[], bytes]
    rcpt: str
    expected: str = SENT
    kinds: frozenset[str] = frozenset()  # finding kinds of the case that must be there

    def __or__(self, kinds: set[str]) -> Sent:
        """The same row, with finding kinds that must be there."""
        return replace(self, kinds=self.kinds | kinds)

    @cached_property
    def data(self) -> bytes:
        return self.make()

    def message(self) -> EmailMessage:
        return mail(self.rcpt, self.filename, self.data, f"Letter {self.name}")


def mail(rcpt: str, filename: str, data: bytes, subject: str = "Letter") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, rcpt, subject
    message.set_content("Please see the attached letter.")
    maintype, subtype = _TYPES[filename.rpartition(".")[2]].split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "tif": "image/tiff",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _table() -> list[Sent]:
    """Each leak with its twin.  The images at each resolution are askew, noisy and
    JPEG-damaged as a cheap scanner leaves them."""
    rows: list[Sent] = []
    for dpi, fmt, ext in ((150, "JPEG", "jpg"), (200, "PNG", "png"), (300, "TIFF", "tif")):
        look = Scan(font="LiberationSerif", pt=12, dpi=dpi, angle=2.5, gauss=8, jpeg=50, seed=dpi)
        rows += [
            Sent(f"image-{dpi}dpi", f"letter.{ext}", partial(picture, LEAK, look, fmt), MARK, HELD)
            | {"address"},
            Sent(f"image-{dpi}dpi-twin", f"letter.{ext}", partial(picture, TWIN, look, fmt), MARK),
        ]
    for maker, ext in ((scanned_pdf, "pdf"), (docx_with_scan, "docx")):
        name, filename = maker.__name__, f"letter.{ext}"
        rows += [
            Sent(name, filename, partial(maker, LEAK), MARK, HELD) | {"address"},
            Sent(f"{name}-twin", filename, partial(maker, TWIN), MARK),
        ]
    boxed, failed = "report.pdf", {"address", "failed_redaction"}
    rows += [
        Sent("boxed-pdf", boxed, partial(boxed_pdf, LEAK), LANDLORD, HELD) | failed,
        Sent("boxed-pdf-twin", boxed, partial(boxed_pdf, TWIN), LANDLORD),
        # inside the organisation, the same report goes as it is
        Sent("boxed-pdf-internal", boxed, partial(boxed_pdf, LEAK), CASEWORKER) | failed,
        Sent("highlighted-docx", "letter.docx", partial(highlighted_docx, LEAK), LANDLORD, HELD)
        | failed,
        Sent("highlighted-docx-twin", "letter.docx", partial(highlighted_docx, TWIN), LANDLORD),
    ]
    return rows


TABLE = {row.name: row for row in _table()}


def run_scan(folder: Path, rows: Sequence[Sent], env: dict[str, str] | None = None) -> list[Any]:
    """``gateway scan --json --manifest`` in a subprocess, as a user runs it; the records
    in order."""
    lines = []
    for row in rows:
        (folder / f"{row.name}.eml").write_bytes(row.message().as_bytes())
        entry = {"file": f"{row.name}.eml", "mail_from": SENDER, "rcpt": [row.rcpt]}
        lines.append(json.dumps(entry))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [str(GATEWAY), "scan", "--register", str(REGISTER), "--internal-domain", INTERNAL]
    done = subprocess.run(
        [*command, "--json", "--manifest", str(folder / "manifest.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole table scanned by one ``gateway scan`` (one start of the CLI)."""
    rows = list(TABLE.values())
    out = run_scan(tmp_path_factory.mktemp("ocr-leaks"), rows)
    assert [f"{row.name}.eml" for row in rows] == [r["file"] for r in out]
    return {row.name: record for row, record in zip(rows, out, strict=True)}


# -- through gateway scan ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLE))
def test_each_leak_is_held_and_its_twin_delivered(records: dict[str, Any], name: str) -> None:
    """The letter with the case's address reaches neither the restricted contact (in
    an image at any resolution, a scanned PDF, a picture pasted in a DOCX) nor, under
    a black box, an outside recipient; the same letter with another address goes."""
    row, record = TABLE[name], records[name]
    assert row.expected == record["action"], record["findings"]
    kinds = {f["kind"] for f in record["findings"] if f["case"] == CASE}
    assert row.kinds <= kinds
    if row.expected == SENT and row.rcpt == MARK:
        assert {"restricted_recipient"} == kinds  # the contact, and nothing of the case
    assert not {"unscannable"} & {f["kind"] for f in record["findings"]}


@pytest.mark.slow
def test_the_held_image_names_its_attachment_and_keeps_the_address_out(
    records: dict[str, Any],
) -> None:
    """The finding says where (the attachment) and how sure, never the address."""
    record = records["image-200dpi"]
    (address,) = [f for f in record["findings"] if f["kind"] == "address"]
    assert ("attachment:letter.png", "high") == (address["location"], address["confidence"])
    assert "restricted-recipient-protected-data" in record["rules"]
    assert "Kingfisher" not in json.dumps(record)


@pytest.mark.slow
def test_the_black_box_is_a_failed_redaction_marked_hidden(records: dict[str, Any]) -> None:
    """The address under the box is an address marked hidden, with a failed redaction
    beside it, and the redaction rule holds it for the outside recipient."""
    record = records["boxed-pdf"]
    hidden = [f for f in record["findings"] if f.get("hidden") == "redaction"]
    assert {"address", "failed_redaction"} <= {f["kind"] for f in hidden}
    assert {"attachment:report.pdf"} == {f["location"].split("#")[0] for f in hidden}
    assert "failed-redaction-external" in record["rules"]


@pytest.mark.slow
def test_findings_without_a_redaction_carry_no_hidden_field(records: dict[str, Any]) -> None:
    """The output of every message without a redaction has exactly the contract's fields."""
    contract = {"kind", "case", "location", "confidence", "score"}
    for name in ("image-200dpi", "scanned_pdf", "docx_with_scan", "boxed-pdf-twin"):
        for finding in records[name]["findings"]:
            assert contract == set(finding) - {"reason"}, name


@pytest.mark.slow
def test_with_ocr_off_an_image_is_unscannable_held_for_the_restricted_contact_only(
    tmp_path: Path,
) -> None:
    """``ocr = false`` (here GATEWAY_OCR): an image to the restricted contact is held as
    unscannable; the same image to anyone else is delivered."""
    look = Scan(dpi=200)
    rows = [
        Sent("restricted", "letter.png", partial(picture, LEAK, look), MARK, HELD),
        Sent("landlord", "letter.png", partial(picture, LEAK, look), LANDLORD),
    ]
    held, sent = run_scan(tmp_path, rows, env={"GATEWAY_OCR": "false"})
    assert (HELD, ["restricted-recipient-unscannable"]) == (held["action"], held["rules"])
    (unread,) = [f for f in held["findings"] if f["kind"] == "unscannable"]
    assert "attachment:letter.png" == unread["location"]
    assert SENT == sent["action"]
    assert "address" not in {f["kind"] for f in held["findings"] + sent["findings"]}


# -- a class of scans, through the core ------------------------------------------


#: scans as an office scanner or a phone makes them of a letter: any font, 11-14 pt,
#: 200 or 300 dpi, fed 2-3 degrees askew, light noise, JPEG or none.  (Salt and pepper
#: noise and 150 dpi are the recall benchmark's: there a few misses in a hundred are
#: allowed, here none is.)
OFFICE_SCANS = st.builds(
    Scan,
    font=st.sampled_from(sorted(imagegen.FONTS)),
    pt=st.floats(11.0, 14.0),
    dpi=st.sampled_from((200, 300)),
    angle=st.sampled_from((-3.0, -2.5, -2.0, 2.0, 2.5, 3.0)),
    gauss=st.sampled_from((0.0, 8.0)),
    jpeg=st.sampled_from((None, 50, 70)),
    seed=st.integers(0, 2**16),
)


@pytest.fixture(scope="module")
def core() -> tuple[Index, Policy]:
    register = load_register(REGISTER)
    index = build_index(register.cases, register.protected_locations)
    return index, load_policy(default_policy_dir())


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(look=OFFICE_SCANS, fmt=st.sampled_from(("PNG", "JPEG", "WEBP", "BMP")))
def test_any_office_scan_of_the_address_is_held_for_the_restricted_contact(
    core: tuple[Index, Policy], look: Scan, fmt: str
) -> None:
    """Whatever the font, size, skew, noise or format of a scan at 200 or 300 dpi, the
    address in it does not reach the restricted contact."""
    data = mail(MARK, "letter.png", picture(LEAK, look, fmt)).as_bytes()
    result = scan(
        Envelope(SENDER, (MARK,), data), *core, ScanSettings(internal_domains=(INTERNAL,))
    )
    assert "quarantine" == result.verdict.action.value


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hide=pdfgen.hides(), page=pdfgen.pages())
def test_any_failed_redaction_of_the_address_is_held_for_an_outside_recipient(
    core: tuple[Index, Policy], hide: pdfgen.Hide, page: pdfgen.Page
) -> None:
    """Under a box of any grey, in the page's colour, clipped, outside the crop box or
    invisible, in any font and size: the address is a failed redaction, held."""
    pdf = pdfgen.report(report(LEAK), replace(hide, line=ADDRESS_LINE), page)
    data = mail(LANDLORD, "report.pdf", pdf).as_bytes()
    envelope = Envelope(SENDER, (LANDLORD,), data)
    result = scan(envelope, *core, ScanSettings(internal_domains=(INTERNAL,)))
    assert "quarantine" == result.verdict.action.value
    assert "failed-redaction-external" in result.verdict.rules


# -- through a served gateway, delivered over SMTP ---------------------------------


def send(gateway: Gateway, row: Sent) -> str:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as client:
        client.ehlo("test.client")
        client.mail(SENDER)
        client.rcpt(row.rcpt)
        code, reply = client.data(row.message().as_bytes(policy=SMTP))
    assert 250 == code, reply
    return reply.decode()


@pytest.mark.slow
def test_a_served_gateway_holds_the_leaks_and_relays_the_twins(
    served: Gateway, upstream: tuple[SinkHandler, int]
) -> None:
    """Through SMTP: the image and the boxed report are held (in the quarantine, not
    upstream); their twins arrive upstream byte for byte."""
    handler, _port = upstream
    leaks = [TABLE["image-200dpi"], TABLE["boxed-pdf"]]
    twins = [TABLE["image-200dpi-twin"], TABLE["boxed-pdf-twin"]]
    for row in leaks + twins:
        send(served, row)
    held = held_findings(served.data_dir)
    arrived = sorted(_subject(m.content) for m in handler.messages)
    assert sorted(f"Letter {row.name}" for row in leaks) == sorted(held)
    assert sorted(f"Letter {row.name}" for row in twins) == arrived
    # the reviewer is told the box hid nothing
    boxed = {f["kind"] for f in held["Letter boxed-pdf"] if f.get("hidden") == "redaction"}
    assert {"address", "failed_redaction"} <= boxed


def held_findings(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Subject -> findings of every message in the quarantine of ``data_dir``."""

    async def read() -> dict[str, list[dict[str, Any]]]:
        keys = KeyRing.load(data_dir / "master.key")
        async with await Store.open(data_dir / "gateway.sqlite3", keys) as store:
            found = {}
            for summary in await store.list_held(limit=1000):
                held = await store.get(summary.id)
                assert held is not None
                found[_subject(held.raw)] = [dict(f) for f in held.findings]
            return found

    return asyncio.run(read())


def _subject(raw: bytes) -> str:
    return str(message_from_bytes(raw)["Subject"])
