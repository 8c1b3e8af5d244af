"""review (console): the audit page and its CSV export, filtered -> HTML or CSV.

A mixin of ``Console``, as ``admin.py``: auditors and admins only (the routes check the
role, and ``Review.audit_log`` again).  The filters go into SQL (``audit.AuditFilter``),
pages are keyset by sequence number, and an export is itself audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.errors import AccessDenied
from gateway.review import Review, audit, record_event
from gateway.review.accounts import Session
from gateway.review.audit import AuditFilter
from gateway.review.model import AuditRecord, Role
from gateway.store import Store

PAGE_SIZE = 200
EXPORT_ACTION = "audit-export"
# Cells a spreadsheet would read as a formula (OWASP's list): written after a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("seq", "at", "actor", "action", "target", "reason")
AUDIT_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})


def parse_filter(query: QueryParams) -> AuditFilter:
    """The page's filter fields; a date that does not parse is left out."""
    return AuditFilter(
        actor=query.get("actor", "").strip(),
        action=query.get("action", "").strip(),
        target=query.get("target", "").strip(),
        since=_date(query.get("from", "")),
        until=_date(query.get("to", "")),
    )


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def filter_query(where: AuditFilter) -> dict[str, str]:
    """The filter as query parameters (for the paging and export links)."""
    fields = {
        "actor": where.actor,
        "action": where.action,
        "target": where.target,
        "from": where.since.isoformat() if where.since else "",
        "to": where.until.isoformat() if where.until else "",
    }
    return {k: v for k, v in fields.items() if v}


def describe(where: AuditFilter) -> str:
    """The filter in words for the export's own audit record ("all records" if none)."""
    parts = [f"{k}={v}" for k, v in filter_query(where).items()]
    return "filter " + " ".join(parts) if parts else "all records"


def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(records: list[AuditRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        at = r.at.astimezone(dt.UTC).isoformat()
        cells = (str(r.seq), at, r.actor, r.action, r.target, r.reason)
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()


def _seq(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


class AuditPages:
    """The audit log page (``/audit``) and its export (``/audit.csv``)."""

    review: Review
    store: Store

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        raise NotImplementedError

    async def audit(self, request: Request, session: Session) -> Response:
        where = parse_filter(request.query_params)
        self._check(session)
        shown = await audit.page(
            self.store,
            where,
            before=_seq(request.query_params.get("before")),
            after=_seq(request.query_params.get("after")),
            size=PAGE_SIZE,
        )
        return self.render(
            "audit.html",
            session=session,
            page=shown,
            report=await audit.verify(self.store),
            where=where,
            query=filter_query(where),
            actions=sorted({*await audit.actions(self.store), *KNOWN_ACTIONS}),
        )

    async def audit_csv(self, request: Request, session: Session) -> Response:
        where = parse_filter(request.query_params)
        self._check(session)
        records = await audit.matching(self.store, where)
        await record_event(self.store, session.user.actor, EXPORT_ACTION, "audit", describe(where))
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return Response(
            to_csv(records),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
        )

    def _check(self, session: Session) -> None:
        if not session.user.has(*AUDIT_ROLES):
            raise AccessDenied(f"{session.user.name} may not read the audit log")


# What the gateway writes; the select also offers any other action the log holds.
KNOWN_ACTIONS = (
    "approval-refused",
    "approve",
    EXPORT_ACTION,
    "claim",
    "delivered",
    "export",
    "false-positive",
    "login",
    "login-failed",
    "logout",
    "password-change",
    "policy-change",
    "reauth-failed",
    "register-import",
    "reject",
    "release",
    "release-refused",
    "release-stopped",
    "unclaim",
    "user-add",
    "user-email",
    "user-roles",
    "view",
)
