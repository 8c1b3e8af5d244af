"""review: a user's request (list, view, release, reject...) -> checked, done, audited.

The one place the review rules live; the CLI and the console both call ``Review``, so
the same checks apply everywhere:

* reading held mail needs reviewer, senior or auditor; acting needs reviewer or senior;
* every action needs a reason; the sender of a held message can never release it (any
  of the account's addresses, compared in the canonical form the matcher uses);
* a critical hold is released by two different accounts (by id, not typed name), the
  second a senior reviewer; an account sharing a name or address with another (made
  before names were unique) may not act;
* a message someone has claimed ("I'm on it") is decided by them, or by whoever takes
  the claim over first (explicitly, audited); a decision ends the claim;
* a message leaves ``held`` once (a compare-and-set in the store), so two reviewers
  pressing at the same moment release it once;
* a release the upstream does not take stays ``releasing`` and is retried;
* where a rule that held the message says ``release: rescan``, the message is scanned
  again first (``Rescanner``), and a rule that fires anew stops the release.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from email.utils import format_datetime
from typing import Protocol

import structlog

from gateway.envelope import Envelope
from gateway.errors import AccessDenied, Conflict, NotFound, ReviewError
from gateway.policy import Policy
from gateway.policy.model import ReleaseMode
from gateway.relay import upstream_config
from gateway.review import audit
from gateway.review.deliver import Deliverer, DeliveryError, SmtpDeliverer
from gateway.review.identity import address_key, name_key
from gateway.review.model import READERS, REVIEWERS, AuditRecord, ReleaseOutcome, Role, User
from gateway.review.notify import Notifier, NotifySettings
from gateway.scan import ScanResult
from gateway.settings import Settings
from gateway.stamp import Stamp
from gateway.store import HeldMessage, HeldSummary, Status, Store
from gateway.verdict import Severity

log = structlog.get_logger("gateway.review")


class Rescanner(Protocol):
    """The scan in force now: its policy, and a scan of one envelope with it."""

    @property
    def policy(self) -> Policy: ...

    async def __call__(self, envelope: Envelope) -> ScanResult: ...


MAX_REASON = 2000
SYSTEM = "system"


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise ReviewError("give a reason")
    if len(reason) > MAX_REASON:
        raise ReviewError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def _need(user: User, roles: frozenset[Role], what: str) -> None:
    if user.clash:
        raise AccessDenied(f"{user.name} may not {what}: {user.clash}")
    if user.disabled or not user.has(*roles):
        raise AccessDenied(f"{user.name} may not {what}")


check_reason, need = _reason, _need  # for the other review modules (worklist.py)


def _check_claim(user: User, claimed_by: str) -> None:
    """``Conflict`` if another account has claimed the message."""
    if claimed_by and claimed_by != user.name:
        raise Conflict(f"claimed: {claimed_by} is on it; take the claim over first")


def is_sender(user: User, message: HeldMessage) -> bool:
    """True if ``user`` sent ``message``: the envelope sender is one of the user's
    addresses, in canonical form (case, plus-tags, provider dots ignored)."""
    sender = address_key(message.mail_from)
    return bool(sender) and any(address_key(a) == sender for a in user.addresses)


class Review:
    """Review actions on the quarantine in ``store``; releases go out through ``deliver``."""

    @classmethod
    def from_settings(
        cls, store: Store, settings: Settings, rescan: Rescanner | None = None
    ) -> Review:
        """Releases and notices through the configured upstream, notices as configured."""
        deliver = SmtpDeliverer(upstream_config(settings))
        notices = NotifySettings(
            settings.notify_from,
            settings.review_team,
            settings.console_url,
            settings.notify_sender_on_hold,
        )
        # A try may take several upstream waits; no retry may start while one is going.
        retry_after = max(settings.release_retry, 5 * settings.upstream_timeout)
        notifier = Notifier(notices, deliver)
        return cls(store, deliver, notifier, retry_after, rescan, Stamp.from_settings(settings))

    def __init__(
        self,
        store: Store,
        deliver: Deliverer,
        notifier: Notifier | None = None,
        retry_after: float = 120.0,
        rescan: Rescanner | None = None,  # None: every release is direct
        stamp: Stamp | None = None,  # None: released mail carries no stamp
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.notifier = notifier
        self.retry_after = retry_after
        self._sending: set[str] = set()  # deliveries under way in this process
        self.rescan = rescan
        self.stamp = stamp
        # Told the seconds from arrival to each release or rejection (the metrics).
        self.on_decision: Callable[[float], None] | None = None

    # -- reading ------------------------------------------------------------------------

    async def messages(
        self,
        user: User,
        status: Status | None = "held",
        *,
        case: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 500,
    ) -> list[HeldSummary]:
        """Most severe first, then oldest: what a reviewer should look at next."""
        _need(user, READERS, "see the quarantine")
        return await self.store.list_held(status, limit, case=case, since=since, by_severity=True)

    async def open(self, user: User, message_id: str) -> HeldMessage:
        """The whole message, for a reader; the view is audited."""
        _need(user, READERS, "see held mail")
        message = await self._message(message_id)
        await audit.record(self.store, user.actor, "view", message_id)
        return message

    async def export(self, user: User, message_id: str) -> bytes:
        """The original bytes, as an .eml for an auditor; audited."""
        _need(user, READERS, "export held mail")
        message = await self._message(message_id)
        await audit.record(self.store, user.actor, "export", message_id)
        return message.raw

    async def approvals(self, message_id: str) -> list[str]:
        """The names of the accounts that approved ``message_id``, first first."""
        rows = await self.store.fetch_all(
            'SELECT coalesce(users.name, approvals."user") FROM approvals'
            " LEFT JOIN users ON users.uid = approvals.user_id"
            " WHERE message_id = ? ORDER BY at",
            (message_id,),
        )
        return [str(row[0]) for row in rows]

    async def has_approved(self, user: User, message_id: str) -> bool:
        """Whether ``user``'s account approved the release of ``message_id`` already
        (a critical hold waiting for its second approver)."""
        return (await self._approved_by(user, message_id))[1]

    async def _approved_by(self, user: User, message_id: str) -> tuple[bool, bool]:
        """(anyone approved ``message_id``, ``user``'s account did): by account id; an
        approval from before ids (none recorded) by its name, case folded."""
        rows = await self.store.fetch_all(
            'SELECT user_id, "user" FROM approvals WHERE message_id = ?', (message_id,)
        )
        mine = any(
            uid == user.id if uid else name_key(name) == name_key(user.name) for uid, name in rows
        )
        return bool(rows), mine

    async def audit_log(
        self, user: User, target: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        _need(user, frozenset({Role.AUDITOR, Role.ADMIN}), "read the audit log")
        return await audit.records(self.store, target=target, limit=limit)

    async def _message(self, message_id: str) -> HeldMessage:
        message = await self.store.get(message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        return message

    # -- acting -------------------------------------------------------------------------

    async def release(
        self, user: User, message_id: str, reason: str, *, first_approval_only: bool = False
    ) -> ReleaseOutcome:
        """Release (or, for a critical hold, approve) a held message.
        ``first_approval_only`` (a bulk release): a critical hold gets at most its
        first approval; its second approver decides it alone, on its page."""
        _need(user, REVIEWERS, "release held mail")
        reason = _reason(reason)
        message = await self._held(message_id, user)
        if is_sender(user, message):
            await self._rule_refused(user, message_id, "the sender may not release it")
            raise AccessDenied("the sender of a message cannot release it")
        if message.severity == Severity.CRITICAL:
            approved, mine = await self._approved_by(user, message_id)
            if mine:
                await self._rule_refused(user, message_id, "the same reviewer approved it already")
                raise Conflict("you approved this already; a second reviewer must release it")
            if not approved:
                await self._approve(user, message_id, reason)
                return ReleaseOutcome(message_id, "approved", "waiting for a senior reviewer")
            if first_approval_only:
                raise Conflict(
                    "a critical hold's second approval is given one message at a time,"
                    " on its own page"
                )
            if not user.has(Role.SENIOR):
                why = "the second approver is not a senior reviewer"
                await self._rule_refused(user, message_id, why)
                raise AccessDenied("a critical hold needs a senior reviewer as second approver")
            await self._approve(user, message_id, reason)
        await self._rescan_first(user, message)
        if not await self.store.transition(message_id, "held", "releasing"):
            raise Conflict(f"{message_id} was released or rejected meanwhile")
        await audit.record(self.store, user.actor, "release", message_id, reason)
        self._decided(message)
        return await self._send(message)

    def _decided(self, message: HeldMessage) -> None:
        if self.on_decision is not None:
            waited = dt.datetime.now(dt.UTC) - message.received_at
            self.on_decision(max(0.0, waited.total_seconds()))

    async def _rule_refused(self, user: User, message_id: str, why: str) -> None:
        """Audit a release the review rules refuse (why: fixed words, no message content)."""
        await audit.record(self.store, user.actor, "approval-refused", message_id, why)

    async def _rescan_first(self, user: User, message: HeldMessage) -> None:
        """Where a rule that held ``message`` asks for it, scan again; a rule that fires
        now and did not hold it stops the release (``Conflict``), audited."""
        if self.rescan is None:
            return
        policy = self.rescan.policy
        # A rule no longer in the policy (renamed, removed) cannot say "direct": rescan.
        if not any(
            (rule := policy.rule(rule_id)) is None or rule.release is ReleaseMode.RESCAN
            for rule_id in message.rules
        ):
            return
        result = await self.rescan(Envelope(message.mail_from, message.rcpt_tos, message.raw))
        new = sorted(set(result.verdict.rules) - set(message.rules))
        if new:
            why = f"a rescan fires {', '.join(new)}, which did not hold it"
            await audit.record(self.store, user.actor, "release-stopped", message.id, why)
            raise Conflict(f"{message.id} stays held: {why}; look at it again")

    async def _approve(self, user: User, message_id: str, reason: str) -> None:
        await self.store.execute(
            'INSERT INTO approvals (message_id, "user", at, user_id) VALUES (?, ?, ?, ?)'
            ' ON CONFLICT (message_id, "user") DO NOTHING',
            (message_id, user.name, dt.datetime.now(dt.UTC).isoformat(), user.id),
        )
        await audit.record(self.store, user.actor, "approve", message_id, reason)
        # The first approver's part is done: the second looks at it afresh.
        await self.store.unclaim(message_id)

    async def reject(
        self,
        user: User,
        message_id: str,
        reason: str,
        notify_sender: bool = False,
        sender_note: str = "",
    ) -> None:
        """Stop a held message for good; optionally tell its sender why."""
        _need(user, REVIEWERS, "reject held mail")
        reason = _reason(reason)
        message = await self._held(message_id, user)
        if not await self.store.transition(message_id, "held", "rejected"):
            raise Conflict(f"{message_id} was released or rejected meanwhile")
        await audit.record(self.store, user.actor, "reject", message_id, reason)
        self._decided(message)
        if notify_sender and self.notifier is not None:
            await self.notifier.rejected(message, " ".join(sender_note.split())[:MAX_REASON])

    async def mark_false_positive(self, user: User, message_id: str, reason: str) -> None:
        """Record that the hold was a false positive (for the policy admins); no delivery."""
        _need(user, REVIEWERS, "mark held mail")
        reason = _reason(reason)
        summary = await self.store.summary(message_id)
        if summary is None:
            raise NotFound(f"no message {message_id}")
        _check_claim(user, summary.claimed_by)
        await self.store.execute(
            "UPDATE messages SET false_positive = 1 WHERE id = ?", (message_id,)
        )
        await audit.record(self.store, user.actor, "false-positive", message_id, reason)

    async def _held(self, message_id: str, user: User) -> HeldMessage:
        message = await self._message(message_id)
        if message.status != "held":
            raise Conflict(f"{message_id} is {message.status}, not held")
        claim = await self.store.claimed_by(message_id)
        _check_claim(user, claim[0] if claim else "")
        return message

    # -- delivery, retries, retention ---------------------------------------------------

    async def _send(self, message: HeldMessage) -> ReleaseOutcome:
        stamp = format_datetime(dt.datetime.now(dt.UTC))
        header = f"X-Safe-Address-Released: {message.id}; released after review; {stamp}\r\n"
        # On top, the gateway's stamp: a mail system that routes mail through the
        # gateway (Exchange Online's transport rule) sends a release on, not back.
        ours = b"" if self.stamp is None else self.stamp.line("released", message.id)
        self._sending.add(message.id)
        try:
            raw = ours + header.encode() + message.raw
            await self.deliver(message.mail_from, message.rcpt_tos, raw)
        except DeliveryError as exc:
            await self.store.execute(
                "UPDATE messages SET attempts = attempts + 1 WHERE id = ?", (message.id,)
            )
            if exc.permanent:
                return await self._refused(message, str(exc))
            log.warning("release pending", message_id=message.id, error=str(exc))
            return ReleaseOutcome(message.id, "pending", str(exc))
        finally:
            self._sending.discard(message.id)
        await self.store.transition(message.id, "releasing", "released")
        await audit.record(self.store, SYSTEM, "delivered", message.id)
        log.info("released", message_id=message.id)
        return ReleaseOutcome(message.id, "released")

    async def _refused(self, message: HeldMessage, why: str) -> ReleaseOutcome:
        """The upstream refused the release for good: held again, for a new decision
        (reject, or release after fixing what it refused); approvals start over."""
        async with self.store.transaction() as write:
            await write(
                "UPDATE messages SET status = 'held' WHERE id = ? AND status = 'releasing'",
                (message.id,),
            )
            await write("DELETE FROM approvals WHERE message_id = ?", (message.id,))
        await audit.record(self.store, SYSTEM, "release-refused", message.id, why)
        log.warning("release refused", message_id=message.id, error=why)
        return ReleaseOutcome(message.id, "refused", why)

    async def retry_pending(self) -> list[ReleaseOutcome]:
        """Try again every release the upstream has not taken, that no one else is
        trying now (a release claims the message by moving its ``status_at``)."""
        cutoff = dt.datetime.fromtimestamp(time.time() - self.retry_after, dt.UTC).isoformat()
        rows = await self.store.fetch_all(
            "SELECT id, status_at FROM messages WHERE status = 'releasing' AND status_at < ?",
            (cutoff,),
        )
        outcomes = []
        for message_id, status_at in rows:
            if message_id in self._sending:
                continue
            claimed = await self.store.execute(
                "UPDATE messages SET status_at = ? WHERE id = ? AND status = 'releasing'"
                " AND status_at = ?",
                (dt.datetime.now(dt.UTC).isoformat(), message_id, status_at),
            )
            if claimed == 1:
                outcomes.append(await self._send(await self._message(message_id)))
        return outcomes

    async def purge(self, actor: str, older_than_days: float) -> list[str]:
        """Delete messages older than the retention period; their audit records stay."""
        if older_than_days < 0:
            raise ReviewError("--older-than must be 0 days or more")
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=older_than_days)
        purged = await self.store.purge(before)
        for message_id in purged:
            await audit.record(
                self.store, actor, "purge", message_id, f"older than {older_than_days:g} days"
            )
        return purged


async def record_event(
    store: Store, actor: str, action: str, target: str = "", reason: str = ""
) -> None:
    """An audit record for something outside the review module (register import,
    policy change, login)."""
    await audit.record(store, actor, action, target, reason)


def outcome_text(outcome: ReleaseOutcome) -> str:
    """One line for a person: what happened to the release."""
    return {
        "approved": f"{outcome.message_id}: approved; a senior reviewer must release it too",
        "released": f"{outcome.message_id}: released and accepted by the upstream",
        "pending": f"{outcome.message_id}: released, but the upstream did not take it yet "
        f"({outcome.detail}); the gateway tries again",
        "refused": f"{outcome.message_id}: the upstream refused it for good "
        f"({outcome.detail}); it is held again",
    }[outcome.state]
