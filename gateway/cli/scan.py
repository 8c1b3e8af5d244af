"""``gateway scan``: the core on message files, as ``shared/contracts/scan-cli.md`` says.

Prints one line per message, in input order (JSON lines with ``--json``).  Nothing is
sent anywhere.  Without ``--show-evidence`` no output carries a matched value.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gateway.cli.store import settings_from, store_options, stored_register
from gateway.envelope import Envelope
from gateway.errors import ConfigError
from gateway.match import Index, build_index
from gateway.policy import Policy, default_policy_dir, explain, load_policy
from gateway.register import load_register
from gateway.scan import ScanResult, ScanSettings, scan

log = structlog.get_logger("gateway.scan")


@dataclass(frozen=True)
class Job:
    """One message to scan: the name to report, where to read it, its envelope."""

    name: str
    path: Path
    mail_from: str
    rcpt: tuple[str, ...]


def add_internal_domain(parser: argparse.ArgumentParser) -> None:
    """``--internal-domain``, for scan and serve alike."""
    parser.add_argument(
        "--internal-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a domain of the organisation (repeat); its recipients are internal",
    )


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "scan", parents=[store_options()], help="scan message files without sending anything"
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="message files or folders of *.eml")
    p.add_argument(
        "--register", type=Path, help="register file (default: the one imported in the store)"
    )
    p.add_argument("--policies", type=Path, help="policy folder (default: the shipped one)")
    add_internal_domain(p)
    p.add_argument("--mail-from", default="", metavar="ADDR", help="the envelope sender")
    p.add_argument(
        "--rcpt",
        action="append",
        default=[],
        metavar="ADDR",
        help="an envelope recipient (repeat); default: the To, Cc and Bcc addresses",
    )
    p.add_argument("--manifest", type=Path, help="JSON lines: file, mail_from, rcpt")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument(
        "--show-evidence",
        action="store_true",
        help="include matched text (for authorised reviewers only)",
    )
    p.add_argument("--explain", action="store_true", help="say which rules fired and why")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.paths) == bool(args.manifest):
        raise ConfigError("give message PATHs or --manifest FILE (one of the two)")
    register = load_register(args.register) if args.register else stored_register(args)
    policy = load_policy(args.policies or default_policy_dir())
    index = build_index(register.cases, register.protected_locations)
    jobs = list(_manifest_jobs(args.manifest) if args.manifest else _path_jobs(args))
    # The configured budget (GATEWAY_SCAN_BUDGET), as in the live gateway; here a scan
    # runs in this process, so the scan's own deadline checks are what hold it.
    settings = ScanSettings(tuple(args.internal_domain), settings_from(args).scan_limits())
    failed = False
    for job in jobs:
        failed |= not _scan_one(job, index, policy, settings, args)
    return 1 if failed else 0


def _scan_one(
    job: Job, index: Index, policy: Policy, settings: ScanSettings, args: argparse.Namespace
) -> bool:
    try:
        raw = job.path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        _emit({"file": job.name, "error": f"cannot read: {reason}"}, args.json, job.name)
        log.warning("unreadable input", file=job.name, error=exc.__class__.__name__)
        return False
    envelope = Envelope(job.mail_from, job.rcpt, raw, explicit_rcpts=bool(job.rcpt))
    result = scan(envelope, index, policy, settings)
    _emit(_as_json(job.name, result, args.show_evidence), args.json, job.name)
    if args.explain:
        print(explain(result.verdict), file=sys.stderr if args.json else sys.stdout)
    log.info(
        "scanned",
        file=job.name,
        action=result.verdict.action.value,
        rules=result.verdict.rules,
        elapsed_ms=round(result.elapsed_ms, 2),
    )
    return True


def _as_json(name: str, result: ScanResult, evidence: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": name,
        "action": result.verdict.action.value,
        "rules": result.verdict.rules,
        "severity": result.verdict.severity.value,
        "findings": [f.to_json() for f in result.match.findings],
        "elapsed_ms": round(result.elapsed_ms, 3),
    }
    if evidence:
        out["evidence"] = [
            {
                "finding": e.finding_index,
                "location": e.location,
                "start": e.start,
                "end": e.end,
                "text": e.text,
            }
            for e in result.match.evidence
        ]
    return out


def _emit(record: dict[str, Any], as_json: bool, name: str) -> None:
    if as_json:
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return
    if "error" in record:
        print(f"{name}: error: {record['error']}", flush=True)
        return
    rules = ", ".join(record["rules"]) or "-"
    print(f"{name}: {record['action']} (rules: {rules}; {record['elapsed_ms']:.1f} ms)")
    for f in record["findings"]:
        case = f["case"] or "-"
        hidden = f" hidden={f['hidden']}" if "hidden" in f else ""
        print(
            f"  {f['kind']} case={case} at {f['location']} "
            f"confidence={f['confidence']} score={f['score']}{hidden}"
        )
    for e in record.get("evidence", []):
        print(f"  evidence #{e['finding']} {e['location']}[{e['start']}:{e['end']}]: {e['text']!r}")


def _path_jobs(args: argparse.Namespace) -> Iterator[Job]:
    rcpt = tuple(args.rcpt)
    for given in args.paths:
        path = Path(given)
        if path.is_dir():
            for child in sorted(path.glob("*.eml")):
                yield Job(str(Path(given) / child.name), child, args.mail_from, rcpt)
        else:
            yield Job(given, path, args.mail_from, rcpt)


def _manifest_jobs(manifest: Path) -> Iterator[Job]:
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{manifest}: cannot read manifest ({exc.__class__.__name__})") from exc
    jobs = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            jobs.append(_manifest_job(manifest, number, line))
    yield from jobs


def _manifest_job(manifest: Path, number: int, line: str) -> Job:
    where = f"{manifest}:{number}"
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not a JSON object ({exc.msg})") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise ConfigError(f'{where}: each line needs "file": a path string')
    rcpt = entry.get("rcpt", [])
    if isinstance(rcpt, str):
        rcpt = [rcpt]
    mail_from = entry.get("mail_from", "") or ""
    if (
        not isinstance(rcpt, list)
        or not all(isinstance(r, str) for r in rcpt)
        or not isinstance(mail_from, str)
    ):
        raise ConfigError(f'{where}: "rcpt" must be a list of addresses, "mail_from" a string')
    return Job(entry["file"], manifest.parent / entry["file"], mail_from, tuple(rcpt))
