"""review (console): the pages for auditors and admins: audit log, users, register, policies.

A mixin of ``Console``: each handler gets the request and the checked session; the
role checks are in ``Console.app``'s routes and again in what the handlers call.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import segno
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.errors import AccessDenied, ConfigError, NotFound, RegisterError
from gateway.policy import Policy
from gateway.register import Register, parse_register
from gateway.register.diff import RegisterDiff, canonical, shrink_refusal
from gateway.review import Review, accounts, audit, identity, record_event
from gateway.review.accounts import Session
from gateway.review.model import ROLES, Role
from gateway.review.upkeep import policy_digest
from gateway.store import Store
from gateway.store.registers import Origin

if TYPE_CHECKING:
    from gateway.console.app import ConsoleSettings

MAX_REGISTER_BYTES = 50 * 1024 * 1024
ENROL_SECONDS = 600
PREVIEW_SECONDS = 900.0  # an upload waits this long for its confirm button
MAX_PREVIEWS = 16  # changes waiting, all admins together (one each)
VERSIONS_SHOWN = 50
DIFF_SHOWN = 200  # case ids of each kind (added, removed, changed) on the page


@dataclass(frozen=True)
class RegisterPreview:
    """A register change shown to its admin, waiting for the confirm button.  It lives
    in the console's memory only (the text holds protected values: it is never written
    unsealed)."""

    user: str
    text: str
    fmt: str
    canonical: str  # the register's form for the next diff (``diff.canonical``)
    cases: int
    origin: Origin
    base: int  # the version it was compared with
    diff: RegisterDiff
    refusal: str | None  # why it removes too much, if it does
    made: float = field(default_factory=time.monotonic)


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code in inline SVG (paths only: no script, no style, no image
    request), dark on light whatever the page's colours, with a quiet zone."""
    svg = segno.make(text, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", svgclass="qr", title="QR code of the key"
    )
    svg = svg.replace("<svg ", '<svg role="img" aria-label="QR code of the key" ', 1)
    return Markup(svg)  # noqa: S704 - segno's output: numbers and fixed markup, no input text


class AdminPages:
    """Users (admin), register (register admin), policies."""

    review: Review
    store: Store
    policy: Policy | None
    policy_dir: Path | None
    notices: dict[str, str]
    enrol_key: bytes  # MACs the authenticator set-up between its two steps
    settings: ConsoleSettings
    register_previews: dict[str, RegisterPreview]  # by token, see ``import_register``

    def render(self, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        raise NotImplementedError

    async def users(self, request: Request, session: Session) -> Response:
        return self.render(
            "users.html",
            session=session,
            users=await accounts.list_users(self.store),
            roles=ROLES,
            notice=self.notices.get(request.query_params.get("notice", "")),
        )

    async def change_user(self, request: Request, session: Session) -> Response:
        form: FormData = request.state.form
        change, name = str(form.get("change", "")), str(form.get("name", "")).strip()
        actor = session.user.actor
        if change == "add":
            roles = accounts.parse_roles(",".join(str(r) for r in form.getlist("roles")))
            aliases = tuple(str(form.get("aliases", "")).replace(",", " ").split())
            user = await accounts.add_user(
                self.store,
                name,
                str(form.get("email", "")),
                roles,
                str(form.get("password", "")),
                aliases,
            )
            reason = f"roles {','.join(sorted(roles))}; {len(user.aliases)} aliases"
            await record_event(self.store, actor, "user-add", f"user:{user.name}", reason)
            return RedirectResponse("/users?notice=user-added", status_code=303)
        if change in ("alias-add", "alias-remove"):
            await self._change_alias(session, change, name, str(form.get("address", "")))
            return RedirectResponse("/users?notice=user-changed", status_code=303)
        reason = ""
        if change in ("disable", "enable"):
            if name == session.user.name:
                raise AccessDenied("you cannot disable your own account")
            await accounts.set_disabled(self.store, name, change == "disable")
        elif change == "reset-password":
            await accounts.reset_password(self.store, name, str(form.get("password", "")))
        elif change == "roles":
            reason = await self._change_roles(session, name, form)
        elif change == "totp-reset":
            await accounts.reset_totp(self.store, name)
        else:
            raise NotFound(f"no change {change!r}")
        await record_event(self.store, actor, f"user-{change}", f"user:{name}", reason)
        return RedirectResponse("/users?notice=user-changed", status_code=303)

    async def _change_roles(self, session: Session, name: str, form: FormData) -> str:
        """New roles from the ticked boxes, in force at the user's next request; the
        audit reason names the old and the new."""
        roles = accounts.parse_roles(",".join(str(r) for r in form.getlist("roles")))
        before = await accounts.get_user(self.store, name)
        if name == session.user.name and Role.ADMIN not in roles:
            raise AccessDenied("you cannot take the admin role from your own account")
        await accounts.set_roles(self.store, name, roles)
        return f"roles {','.join(sorted(roles))} (were {','.join(sorted(before.roles))})"

    async def _change_alias(self, session: Session, change: str, name: str, address: str) -> None:
        """Another address the account sends from, or one fewer; audited with a digest of
        the address, not the address."""
        if change == "alias-add":
            await accounts.add_alias(self.store, name, address)
        else:
            await accounts.remove_alias(self.store, name, address)
        reason = f"alias {identity.fingerprint(address)}"
        await record_event(self.store, session.user.actor, f"user-{change}", f"user:{name}", reason)

    async def account(self, request: Request, session: Session) -> Response:
        return self.render(
            "account.html",
            session=session,
            enrol=None,
            error="",
            notice=self.notices.get(request.query_params.get("notice", "")),
        )

    async def change_account(self, request: Request, session: Session) -> Response:
        """The user's own password and second factor; every change asks who they are."""
        form: FormData = request.state.form
        change, user = str(form.get("change", "")), session.user
        code = str(form.get("code", ""))
        if change == "password":
            await accounts.change_password(
                self.store,
                user.name,
                str(form.get("current", "")),
                code,
                str(form.get("password", "")),
                str(form.get("again", "")),
            )
            await record_event(self.store, user.actor, "password-change", f"user:{user.name}")
            # Changing the password ends every session, this one too: log in again.
            return RedirectResponse("/login", status_code=303)
        if change == "totp-start":
            await accounts.authenticate(self.store, user.name, str(form.get("current", "")), code)
            secret, uri = accounts.new_totp(user.name)
            return self.render(
                "account.html",
                session=session,
                error="",
                enrol=self._enrolment(session, secret, uri),
            )
        if change == "totp-confirm":
            secret = str(form.get("secret", ""))
            issued = str(form.get("issued", ""))
            # Only a secret this console handed out, in this session, after the password,
            # in the last ten minutes: a borrowed session cannot plant its own.
            expected = self._enrolment(session, secret, "", issued)["proof"]
            fresh = issued.isdigit() and time.time() - int(issued) < ENROL_SECONDS
            if not (fresh and hmac.compare_digest(str(form.get("proof", "")), expected)):
                raise AccessDenied("start the authenticator set-up again")
            if not accounts.totp_code_matches(secret, code):
                return self.render(
                    "account.html",
                    400,
                    session=session,
                    enrol=self._enrolment(session, secret, "", issued),
                    error="That code did not match; try the next one.",
                )
            await accounts.set_totp(self.store, user.name, secret)
            await record_event(self.store, user.actor, "totp-on", f"user:{user.name}")
            return RedirectResponse("/account?notice=totp-on", status_code=303)
        raise NotFound(f"no change {change!r}")

    def _enrolment(
        self, session: Session, secret: str, uri: str, issued: str = ""
    ) -> dict[str, str]:
        """The hidden fields of the confirm step, with a MAC binding them to the session,
        and the QR code of the secret's ``otpauth://`` URI."""
        issued = issued or str(int(time.time()))
        message = f"{session.csrf}:{secret}:{issued}".encode()
        proof = hmac.new(self.enrol_key, message, hashlib.sha256).hexdigest()
        uri = uri or accounts.totp_uri(session.user.name, secret)
        return {"secret": secret, "uri": uri, "issued": issued, "proof": proof, "qr": qr_svg(uri)}

    async def register(self, request: Request, session: Session) -> Response:
        return await self._register_page(
            session,
            notice=self.notices.get(request.query_params.get("notice", "")),
        )

    async def _register_page(
        self, session: Session, token: str = "", notice: str | None = None
    ) -> Response:
        """The versions, the current version's cases, and a change waiting for its
        confirm button (``token``), if any."""
        return self.render(
            "register.html",
            session=session,
            versions=await self.store.register_versions(limit=VERSIONS_SHOWN),
            cases=await self.store.register_cases(),
            preview=self.register_previews.get(token),
            token=token,
            shown=DIFF_SHOWN,
            notice=notice,
            in_force=await self.store.in_force(),  # what the running gateway scans with
            beat=await self.store.heartbeat(),
        )

    async def import_register(self, request: Request, session: Session) -> Response:
        """An upload, read and compared with the current version: the page shows what it
        changes, and nothing is stored until the admin confirms."""
        form: FormData = request.state.form
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ConfigError("choose a register file (YAML or JSON)")
        data = await upload.read(MAX_REGISTER_BYTES + 1)
        name = Path(upload.filename).name
        if len(data) > MAX_REGISTER_BYTES:
            raise ConfigError(f"{name}: larger than {MAX_REGISTER_BYTES // 2**20} MiB")
        try:
            text = data.decode("utf-8")
            register = await asyncio.to_thread(parse_register, text, name)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name}: not UTF-8 text") from exc
        except RegisterError as exc:  # names the file, line, case and field; no values
            raise ConfigError(str(exc)) from exc
        fmt = "json" if name.endswith(".json") else "yaml"
        digest = hashlib.sha256(data).hexdigest()
        origin = Origin(session.user.actor, "import", name, digest)
        return await self._preview(session, text, fmt, register, origin)

    async def rollback_register(self, request: Request, session: Session) -> Response:
        """An old version as the next one: shown and confirmed like an upload."""
        wanted = str(request.state.form.get("version", ""))
        source = await self.store.register_source(int(wanted)) if wanted.isdigit() else None
        if source is None:
            raise NotFound(f"no register version {wanted!r}")
        register = await asyncio.to_thread(source.parse)
        origin = Origin(session.user.actor, "rollback", f"version {source.version}")
        return await self._preview(session, source.text, source.format, register, origin)

    async def _preview(
        self, session: Session, text: str, fmt: str, register: Register, origin: Origin
    ) -> Response:
        base, diff = await self.store.compare_register(register)
        if diff.empty:
            return RedirectResponse("/register?notice=register-same", status_code=303)
        refusal = shrink_refusal(diff, self.settings.register_max_shrink)
        form = await asyncio.to_thread(canonical, register)
        preview = RegisterPreview(
            session.user.name, text, fmt, form, len(register.cases), origin, base, diff, refusal
        )
        now = time.monotonic()
        for old, waiting in list(self.register_previews.items()):
            if now - waiting.made > PREVIEW_SECONDS or waiting.user == preview.user:
                del self.register_previews[old]  # one waiting change per admin
        while len(self.register_previews) >= MAX_PREVIEWS:
            del self.register_previews[next(iter(self.register_previews))]
        token = secrets.token_urlsafe(18)
        self.register_previews[token] = preview
        return await self._register_page(session, token)

    async def confirm_register(self, request: Request, session: Session) -> Response:
        """Store the change the admin saw (unless the register changed since), audited
        with its counts."""
        form: FormData = request.state.form
        token = str(form.get("token", ""))
        preview = self.register_previews.get(token)
        fresh = preview is not None and time.monotonic() - preview.made < PREVIEW_SECONDS
        if preview is None or not fresh or preview.user != session.user.name:
            raise ConfigError("This change is no longer waiting; upload the file again.")
        if preview.refusal and form.get("allow_shrink") != "on":
            raise ConfigError(
                f"Not applied: {preview.refusal}. Tick the box to remove them all the same."
            )
        del self.register_previews[token]
        origin = preview.origin
        version = await self.store.save_register(
            preview.text,
            preview.fmt,
            preview.cases,
            origin,
            after=preview.base,
            keep=self.settings.register_keep_versions,
            canonical_text=preview.canonical,
        )
        await record_event(
            self.store,
            origin.actor,
            f"register-{origin.action}",
            f"register:{version}",
            f"{origin.source}: {preview.diff.counts()}",
        )
        notice = "register-rolled-back" if origin.action == "rollback" else "register-imported"
        return RedirectResponse(f"/register?notice={notice}", status_code=303)

    async def _rule_counts(self, false_positive_only: bool = False) -> Counter[str]:
        """Messages in the quarantine (any status) per rule that decided them."""
        return Counter(await self.store.rule_counts(false_positive_only))

    async def policies(self, request: Request, session: Session) -> Response:
        if self.policy is None or self.policy_dir is None:
            raise NotFound("this console runs without a policy")
        fired, false_positive = await self._rule_counts(), await self._rule_counts(True)
        return self.render(
            "policies.html",
            session=session,
            rules=self.policy.rules,
            sources=self.policy.sources,
            digest=policy_digest(self.policy_dir)[:16],
            fired=fired,
            false_positive=false_positive,
            trail=[
                r for r in await audit.records(self.store, limit=500) if r.action == "policy-change"
            ],
        )
