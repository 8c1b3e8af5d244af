"""review (console): the quarantine list, claims and bulk decisions -> pages.

A mixin of ``Console``.  The list's query string is the search (``ListQuery``): every
link on the page (sort, status, next and previous page) and the bulk form carry it, so
"all that match this search" is the same search run again on the server.  Paging is by
keyset cursor (``after``/``before``: the sort value and id of a row, base64 of JSON,
nothing personal: a sort value is a case id, a rule id, an account name, a rank, a time
or a blind index token).  A bulk release asks for the password (and the TOTP code) as
a single release does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console.decision import CLAIM_NOTICES, reauthenticate
from gateway.console.oversight import oversight_lines
from gateway.errors import ConfigError
from gateway.findings import Kind
from gateway.policy import Policy
from gateway.review import Review, worklist
from gateway.review.accounts import Session
from gateway.review.worklist import BULK_ACTIONS, BULK_LIMIT, BulkAction
from gateway.store import STATUSES, Store
from gateway.store.model import SORTS, ListedMessage, ListQuery, Status

if TYPE_CHECKING:
    from collections.abc import Iterable

PAGE_SIZES = (25, 50, 100, 200)
#: the search's fields in the query string (besides status, sort, order, size, cursors)
SEARCH_FIELDS = ("sender", "recipient", "subject", "case", "rule", "from", "to", "claimed")
_RECIPIENT_KINDS = {Kind.RESTRICTED_RECIPIENT.value, Kind.PROBABLE_RESTRICTED_RECIPIENT.value}
COLUMNS = (  # (sort key or '', heading)
    ("severity", "Severity"),
    ("received", "Received"),
    ("", "Age"),
    ("sender", "Sender"),
    ("recipients", "Recipients"),
    ("subject", "Subject"),
    ("cases", "Cases"),
    ("rules", "Rules"),
    ("status", "Status"),
    ("claimed", "Claimed by"),
)


@dataclass(frozen=True)
class Row:
    """A list row as the template shows it."""

    item: ListedMessage
    recipients: tuple[tuple[str, str], ...]  # (address, case if restricted else '')
    rules: tuple[tuple[str, str], ...]  # (rule id, what it means in words)


def encode_cursor(cursor: tuple[Any, str] | None) -> str:
    if cursor is None:
        return ""
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def decode_cursor(text: str) -> tuple[Any, str] | None:
    if not text:
        return None
    try:
        value, message_id = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError("that page link is damaged; start from the first page") from None
    if not isinstance(value, (str, int)) or not isinstance(message_id, str):
        raise ConfigError("that page link is damaged; start from the first page")
    return value, message_id


def _day(text: str, field: str) -> dt.datetime | None:
    if not text.strip():
        return None
    try:
        return dt.datetime.fromisoformat(text.strip()).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ConfigError(f"'{field}' must be a date (YYYY-MM-DD)") from None


def query_from(params: Mapping[str, str], cursors: bool = True) -> ListQuery:
    """The search a query string (or the bulk form) describes; ``ConfigError`` if
    it cannot be read."""
    status_text = params.get("status", "held")
    status = cast("Status | None", status_text if status_text in STATUSES else None)
    size = int(params["size"]) if params.get("size", "").isdigit() else 50
    to = _day(params.get("to", ""), "to")
    sort = params.get("sort", "severity")
    after = decode_cursor(params.get("after", "")) if cursors else None
    before = decode_cursor(params.get("before", "")) if cursors else None
    sort = sort if sort in SORTS else "severity"
    for cursor in (after, before):  # a rank is a number, every other sort value text
        if cursor is not None and isinstance(cursor[0], int) != (sort == "severity"):
            raise ConfigError("that page link is for another sort; start from the first page")
    return ListQuery(
        status=status,
        sender=params.get("sender", "").strip(),
        recipient=params.get("recipient", "").strip(),
        subject=params.get("subject", "").strip(),
        case=params.get("case", "").strip(),
        rule=params.get("rule", "").strip(),
        received_from=_day(params.get("from", ""), "from"),
        received_to=None if to is None else to + dt.timedelta(days=1),
        claimed=params.get("claimed", "").strip(),
        sort=sort,
        descending=params.get("order") == "desc",
        after=after,
        before=before,
        limit=size if size in PAGE_SIZES else 50,
    )


def search_params(params: Mapping[str, str]) -> dict[str, str]:
    """The search's own parameters (no cursor), for links and the bulk form."""
    keep = (*SEARCH_FIELDS, "status", "sort", "order", "size")
    return {k: params[k] for k in keep if params.get(k)}


def marked_recipients(item: ListedMessage) -> tuple[tuple[str, str], ...]:
    """Each recipient with the case it is a restricted contact of ('' if none): a
    recipient finding's evidence names it."""
    findings = item.summary.findings
    marks: dict[str, str] = {}
    for evidence in item.evidence:
        number = int(evidence.get("finding", -1))
        if 0 <= number < len(findings) and findings[number].get("kind") in _RECIPIENT_KINDS:
            marks[str(evidence.get("text", "")).lower()] = str(findings[number].get("case"))
    return tuple(
        (r, next((case for text, case in marks.items() if r.lower() in text), ""))
        for r in item.rcpt_tos
    )


def rules_in_words(policy: Policy | None, rules: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Each rule id with its description from the policy (the id itself without one)."""
    out = []
    for rule_id in rules:
        rule = policy.rule(rule_id) if policy is not None else None
        words = " ".join(rule.description.split()) if rule is not None else ""
        out.append((rule_id, words or rule_id))
    return tuple(out)


class ListPages:
    """/messages (search, sort, pages), claims, and /messages/bulk."""

    review: Review
    store: Store
    policy: Policy | None

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        raise NotImplementedError

    async def messages(self, request: Request, session: Session) -> Response:
        params = dict(request.query_params)
        query = query_from(params)
        started = time.perf_counter()
        page, counts = await worklist.search(self.review, session.user, query)
        oversight = await oversight_lines(self.store)
        elapsed = (time.perf_counter() - started) * 1000
        search = search_params(params)
        response = self.render(
            "list.html",
            session=session,
            rows=[
                Row(item, marked_recipients(item), rules_in_words(self.policy, item.summary.rules))
                for item in page.rows
            ],
            page=page,
            counts=counts,
            query=query,
            search=search,
            status=params.get("status", "held"),
            statuses=(*STATUSES, "all"),
            columns=COLUMNS,
            sizes=PAGE_SIZES,
            link=lambda **change: _link(search, change),
            next_link=_link(search, {"after": encode_cursor(page.next)}) if page.next else "",
            previous_link=(
                _link(search, {"before": encode_cursor(page.previous)}) if page.previous else ""
            ),
            here=_link({k: v for k, v in params.items() if k != "notice"}, {}),
            bulk_limit=BULK_LIMIT,
            notice=CLAIM_NOTICES.get(params.get("notice", "")),
            oversight=oversight,
        )
        # the time the page's reads took on the server (the store's queries and unsealing)
        response.headers["Server-Timing"] = f"list;dur={elapsed:.1f}"
        return response

    async def claim(self, request: Request, session: Session) -> Response:
        """Claim, take over or give up a message, then back to the page it was done from."""
        form: FormData = request.state.form
        message_id = request.path_params["id"]
        change = str(form.get("claim", "claim"))
        if change == "unclaim":
            await worklist.unclaim(self.review, session.user, message_id)
        else:
            await worklist.claim(self.review, session.user, message_id, change == "take-over")
        back = str(form.get("back", ""))
        target = back if back.startswith("/messages") and "//" not in back else "/messages"
        join = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{join}notice={change}", status_code=303)

    async def bulk(self, request: Request, session: Session) -> Response:
        """One decision on the selected messages (or all that match the search); the
        results page lists each message's result."""
        form: FormData = request.state.form
        action = str(form.get("action", ""))
        if action not in BULK_ACTIONS:
            raise ConfigError("choose what to do: reject, mark as false positive or release")
        user = session.user
        if form.get("scope") == "all":
            fields = {k: str(v) for k, v in form.multi_items() if isinstance(v, str)}
            ids = await worklist.matching(self.review, user, query_from(fields, cursors=False))
        else:
            ids = [str(v) for v in form.getlist("id")]
        if action == "release":  # re-authentication, as for one release
            await reauthenticate(self.store, user, "bulk", form)
        results = await worklist.decide_all(
            self.review, user, cast("BulkAction", action), ids, str(form.get("reason", ""))
        )
        return self.render(
            "bulk.html",
            session=session,
            action=action,
            results=results,
            done=sum(r.done for r in results),
            limit=BULK_LIMIT,
            back=_back(form),
        )


def _link(search: Mapping[str, str], change: Mapping[str, str]) -> str:
    merged = {k: v for k, v in {**search, **change}.items() if v}
    return "/messages" + (f"?{urlencode(merged)}" if merged else "")


def _back(form: FormData) -> str:
    fields = {k: str(v) for k, v in form.multi_items() if isinstance(v, str)}
    return _link(search_params(fields), {})
