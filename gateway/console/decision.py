"""review (console): the message page and its decisions (release, reject, false positive).

A mixin of ``Console``.  The page shows the content first and the decision forms beside
it; a decision that fails (a wrong password or code, the four-eyes rule, someone else
was first) shows the page again with the error next to the form that was sent and what
was typed still in it, but never the password or code.

A false positive records the mistake for the policy admins and then, as the reviewer
chooses, keeps the message held or releases it: a release by the same rules as the
Release form (the password again, two approvers for a critical hold, the sender never).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console.view import message_view
from gateway.errors import AccessDenied, Conflict, LoginFailed, NotFound, ReviewError
from gateway.policy import Policy
from gateway.review import Review, Role, accounts, audit, is_sender, record_event
from gateway.review.accounts import Session
from gateway.review.model import REVIEWERS, User
from gateway.store import HeldMessage, Store
from gateway.verdict import Severity

if TYPE_CHECKING:
    from gateway.console.app import ConsoleSettings

_STATUS = {LoginFailed: 401, AccessDenied: 403, NotFound: 404, Conflict: 409}
REAUTH_FAILED = "Wrong password or code, or your account is locked for now: nothing was done."
_FP = "Recorded as a false positive, for the policy admins to tune the rules."
# what a claim did, shown on the list page and the message page alike
CLAIM_NOTICES = {
    "claim": "Claimed: the others see you are on it.",
    "take-over": "Taken over: the claim is yours now.",
    "unclaim": "Claim given up.",
}
NOTICES = {
    "false-positive": f"{_FP} The message is still held: release or reject it when ready.",
    "false-positive-approved": f"{_FP} Approved: a senior reviewer must approve it too "
    "before it is released.",
    "false-positive-released": f"{_FP} Released: the upstream accepted the message.",
    "false-positive-pending": f"{_FP} Released, but the upstream did not take it yet; "
    "the gateway keeps trying.",
    "false-positive-refused": f"{_FP} The upstream refused it for good, so it is held "
    "again; see the history below.",
}


@dataclass(frozen=True)
class Typed:
    """What a decision form held when it failed, to show it again (no password)."""

    action: str = ""
    error: str = ""
    reason: str = ""
    notify_sender: bool = False
    sender_note: str = ""
    then: str = "keep"  # the false positive form's choice: keep held, or release

    def reason_for(self, action: str) -> str:
        return self.reason if action == self.action else ""


class MessagePages:
    """The message page and the decisions taken on it."""

    review: Review
    store: Store
    policy: Policy | None
    notices: dict[str, str]
    settings: ConsoleSettings
    if TYPE_CHECKING:  # sso.py's, on the Console (a stub here would hide it)

        async def sso_release(self, session: Session, message_id: str, reason: str) -> Response: ...

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        raise NotImplementedError

    async def message(self, request: Request, session: Session) -> Response:
        key = request.query_params.get("notice", "")
        notice = NOTICES.get(key) or CLAIM_NOTICES.get(key) or self.notices.get(key)
        return await self.message_page(session, request.path_params["id"], notice=notice)

    async def message_page(
        self,
        session: Session,
        message_id: str,
        code: int = 200,
        notice: str | None = None,
        typed: Typed | None = None,
    ) -> Response:
        """The page of ``message_id``; ``typed``: a failed decision to show again."""
        user = session.user
        message = await self.review.open(user, message_id)
        approvers = await self.review.approvals(message_id)
        claimed = await self.store.claimed_by(message_id)
        mine = bool(approvers) and await self.review.has_approved(user, message_id)
        return self.render(
            "message.html",
            code,
            session=session,
            message=message,
            view=await asyncio.to_thread(
                message_view, message, self.settings.limits, self._policy()
            ),
            approvers=approvers,
            claimed=claimed[0] if claimed else "",
            can_act=user.has(*REVIEWERS) and message.status == "held",
            release_block=_release_block(user, message, approvers, mine),
            is_sender=is_sender(user, message),
            notice=notice,
            typed=typed or Typed(),
            trail=await audit.records(self.store, target=message_id, limit=50),
        )

    def _policy(self) -> Policy | None:
        """The policy in force now (the rescanner's, which follows changes), else the
        console's own."""
        rescan = self.review.rescan
        return rescan.policy if rescan is not None else self.policy

    async def act(self, request: Request, session: Session) -> Response:
        message_id, action = request.path_params["id"], request.path_params["action"]
        form: FormData = request.state.form
        if action not in ("release", "reject", "false-positive"):
            raise NotFound(f"no action {action!r}")
        if action == "release" and session.user.sso:
            # An account of the identity provider confirms at the provider (sso.py).
            return await self.sso_release(session, message_id, str(form.get("reason", "")))
        typed = _typed(action, form)
        try:
            notice = await self._decide(session.user, message_id, typed, form)
        except ReviewError as exc:
            if isinstance(exc, NotFound) or await self.store.summary(message_id) is None:
                raise
            code = next((v for k, v in _STATUS.items() if isinstance(exc, k)), 400)
            error = REAUTH_FAILED if isinstance(exc, LoginFailed) else _sentence(str(exc))
            failed = replace(typed, error=error)
            return await self.message_page(session, message_id, code, typed=failed)
        return RedirectResponse(f"/messages/{message_id}?notice={notice}", status_code=303)

    async def _decide(self, user: User, message_id: str, typed: Typed, form: FormData) -> str:
        """Do ``typed.action``; the notice's key."""
        if typed.action == "reject":
            await self.review.reject(
                user, message_id, typed.reason, typed.notify_sender, typed.sender_note
            )
            return "rejected"
        release = typed.action == "release" or typed.then == "release"
        outcome = None
        if release:
            # Re-authentication: the password again, right before a release.
            await reauthenticate(self.store, user, message_id, form)
            outcome = await self.review.release(user, message_id, typed.reason)
        if typed.action == "release" and outcome is not None:
            return outcome.state
        # Recorded after a release that went through, so a refused release records nothing.
        await self.review.mark_false_positive(user, message_id, typed.reason)
        return "false-positive" if outcome is None else f"false-positive-{outcome.state}"


async def reauthenticate(store: Store, user: User, target: str, form: FormData) -> None:
    """The password (and code) again, right before a release; a wrong one is audited
    against ``target`` (the message id, or "bulk") and raises ``LoginFailed``."""
    try:
        await accounts.authenticate(
            store, user.name, str(form.get("password", "")), str(form.get("code", ""))
        )
    except LoginFailed:
        why = "password or code refused before a release (wrong, or the account locked)"
        await record_event(store, user.actor, "reauth-failed", target, why)
        raise


def _typed(action: str, form: FormData) -> Typed:
    return Typed(
        action=action,
        reason=str(form.get("reason", "")),
        notify_sender=form.get("notify_sender") == "on",
        sender_note=str(form.get("sender_note", "")),
        then="release" if form.get("then") == "release" else "keep",
    )


def _release_block(user: User, message: HeldMessage, approvers: list[str], mine: bool) -> str:
    """Why ``user`` is offered no release of ``message`` (``""``: they are)."""
    if message.severity != Severity.CRITICAL or not approvers:
        return ""
    if mine:
        return "You approved this; waiting for a second, senior reviewer."
    if not user.has(Role.SENIOR):
        return (
            f"Approved by {', '.join(approvers)}; the second approval must come from a "
            "senior reviewer."
        )
    return ""


def _sentence(text: str) -> str:
    """A review error's text as a sentence on the page."""
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text
