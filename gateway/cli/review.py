"""Commands for review: ``quarantine list|show|release|reject|false-positive|purge|export``,
``user add|alias|email|roles|disable|enable|reset-password|totp|list``, ``audit list|verify``.

Every action goes through ``gateway.review.Review`` with the same rules as the console.
Actions on held mail name a review account (``--user``) and read its password from
standard input (or a prompt), so the four-eyes rule and the sender rule hold here too.
Commands that need no account (listing, user management, purge) are for whoever holds
the key file; the audit log names them ``cli:<login>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.cli.store import cli_actor, read_secret, settings_from, store_options, with_store
from gateway.errors import ConfigError, NotFound
from gateway.extract import Limits, extract
from gateway.review import (
    Review,
    User,
    accounts,
    audit,
    identity,
    outcome_text,
    record_event,
)
from gateway.review.model import ROLES
from gateway.review.rescan import StoredRescan
from gateway.store import STATUSES, HeldMessage, HeldSummary, Store
from gateway.store.model import ListQuery


def _review(store: Store, args: argparse.Namespace) -> Review:
    settings = settings_from(args)
    return Review.from_settings(store, settings, StoredRescan(store, settings))


def _run(args: argparse.Namespace, work: Any, *, create: bool = False) -> Any:
    return with_store(settings_from(args), work, create=create)


async def _login(store: Store, args: argparse.Namespace) -> User:
    if not args.user:
        raise ConfigError("name your review account with --user")
    known = await accounts.find_user(store, args.user)
    if known is not None and known.has_totp and not args.code:
        # whoever runs this holds the key file: saying so tells them nothing new
        raise ConfigError(f"account {args.user} has a second factor: give its code with --code")
    password = read_secret(f"password for {args.user}: ")
    return await accounts.authenticate(store, args.user, password, args.code or "")


_ID_HELP = "the message id (Q..., from quarantine list)"


def add_parsers(commands: Any) -> None:
    options = store_options()
    as_user = argparse.ArgumentParser(add_help=False)
    as_user.add_argument("--user", help="your review account (password on stdin or prompted)")
    as_user.add_argument("--code", help="your TOTP code, if the account has one")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", type=Path, help="TOML settings (upstream, TLS, notices)")
    notices = argparse.ArgumentParser(add_help=False, parents=[config])
    notices.add_argument(
        "--upstream", metavar="HOST:PORT", help="where releases and notices to senders go"
    )
    upstream = argparse.ArgumentParser(add_help=False, parents=[notices])
    upstream.add_argument("--policies", type=Path, help="policy folder, for release: rescan")

    _quarantine_parsers(commands, options, as_user, upstream, notices)
    _user_parsers(commands, options)
    _audit_parsers(commands, options)


def _quarantine_parsers(
    commands: Any,
    options: argparse.ArgumentParser,
    as_user: argparse.ArgumentParser,
    upstream: argparse.ArgumentParser,
    notices: argparse.ArgumentParser,
) -> None:
    q = commands.add_parser("quarantine", help="review held messages").add_subparsers(
        dest="quarantine_command", required=True
    )
    p = q.add_parser("list", parents=[options], help="messages: verdict, finding kinds, size")
    p.add_argument("--status", choices=STATUSES, help="only messages in this status")
    p.add_argument("--case", help="only messages with a finding for this register case")
    p.add_argument("--since", type=_date, help="only messages received on or after (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="only messages received before (YYYY-MM-DD)")
    p.add_argument("--sender", help="only messages from this address (the whole address)")
    p.add_argument("--recipient", help="only messages to this address (the whole address)")
    p.add_argument("--subject", help="only messages whose subject has every one of these words")
    p.add_argument("--rule", help="only messages a policy rule of this name held")
    p.add_argument(
        "--limit", type=int, default=100, help="at most this many, newest first (default 100)"
    )
    p.add_argument("--all", action="store_true", help="every message that matches, no limit")
    p.set_defaults(run=_list)
    p = q.add_parser(
        "show",
        parents=[options, as_user],
        help="one message; with --user also envelope, evidence and every part",
    )
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("--show-evidence", action="store_true", help="(needs --user) same as --user")
    p.set_defaults(run=_show)
    # release re-injects (upstream, and policies for release: rescan); reject may send
    # the sender a notice through the upstream; a false positive is a mark, no mail
    for name, helptext, extra in (
        ("release", "release a held message (critical: two people)", [upstream]),
        ("reject", "stop a held message for good", [notices]),
        ("false-positive", "mark a hold as a false positive", []),
    ):
        p = q.add_parser(name, parents=[options, as_user, *extra], help=helptext)
        p.add_argument("id", help=_ID_HELP)
        p.add_argument("--reason", required=True, help="why (kept in the audit log)")
        if name == "reject":
            p.add_argument("--notify-sender", action="store_true", help="tell the sender")
            p.add_argument(
                "--sender-note",
                default="",
                help="a note for the sender, emailed as written (the reason is not sent)",
            )
        p.set_defaults(run=_act, action=name)
    p = q.add_parser(
        "retry",
        parents=[options, upstream],
        help="retry the pending releases no one has tried for release_retry seconds",
    )
    p.set_defaults(run=_retry)
    p = q.add_parser("purge", parents=[options], help="delete messages older than N days")
    p.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="age in days, any status"
    )
    p.set_defaults(run=_purge)
    p = q.add_parser("export", parents=[options, as_user], help="the original .eml (audited)")
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    p.set_defaults(run=_export)


def _user_parsers(commands: Any, options: argparse.ArgumentParser) -> None:
    u = commands.add_parser("user", help="review accounts").add_subparsers(
        dest="user_command", required=True
    )
    p = u.add_parser("add", parents=[options], help="a new account (password on stdin)")
    p.add_argument("name", help="the account name")
    p.add_argument(
        "--email", required=True, help="their mail address (a sender cannot release their own mail)"
    )
    p.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="another address they send from (a shared mailbox...); repeat for more",
    )
    p.add_argument("--role", required=True, help=f"comma-separated: {', '.join(ROLES)}")
    p.set_defaults(run=_user_add)
    p = u.add_parser(
        "alias", parents=[options], help="add or remove an address the account sends from"
    )
    p.add_argument("name", help="the account name")
    p.add_argument("change", choices=("add", "remove"), help="add or remove the address")
    p.add_argument("address", help="a mail address")
    p.set_defaults(run=_user_alias)
    p = u.add_parser("email", parents=[options], help="change the account's main address")
    p.add_argument("name", help="the account name")
    p.add_argument("address", help="a mail address")
    p.set_defaults(run=_user_email)
    p = u.add_parser("roles", parents=[options], help="set the account's roles (in force at once)")
    p.add_argument("name", help="the account name")
    p.add_argument("--role", required=True, help=f"comma-separated: {', '.join(ROLES)}")
    p.set_defaults(run=_user_roles)
    for name in ("disable", "enable", "reset-password", "totp", "totp-off"):
        p = u.add_parser(name, parents=[options])
        p.add_argument("name", help="the account name")
        p.set_defaults(run=_user_change, change=name)
    p = u.add_parser("list", parents=[options])
    p.set_defaults(run=_user_list)


def _audit_parsers(commands: Any, options: argparse.ArgumentParser) -> None:
    a = commands.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", required=True
    )
    p = a.add_parser("list", parents=[options], help="records, oldest first")
    p.add_argument("--target", help="only records about this message id or user")
    p.add_argument("--limit", type=int, default=1000, help="the newest N records (default 1000)")
    p.set_defaults(run=_audit_list)
    p = a.add_parser("verify", parents=[options], help="check the chain: exit 1 if broken")
    p.set_defaults(run=_audit_verify)


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


# -- quarantine -----------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    """One line a message; a last line when ``--limit`` cut the list short."""
    limit = None if args.all else args.limit
    asked = -1 if limit is None else limit + 1  # one more: was anything left out?
    searched = any((args.until, args.sender, args.recipient, args.subject, args.rule))
    summaries = _run(
        args,
        lambda store: (
            _search(store, args, asked)
            if searched
            else store.list_held(args.status, asked, case=args.case, since=args.since)
        ),
    )
    if not summaries:
        print("no messages")
    for summary in summaries[:limit]:
        print(summary_line(summary))
    if limit is not None and len(summaries) > limit:
        print(f"(the first {limit} shown; more match: --limit N, or --all)")
    return 0


async def _search(store: Store, args: argparse.Namespace, asked: int) -> list[HeldSummary]:
    """``quarantine list`` with a sender, recipient, subject, rule or end date: the
    console's search (through the blind index), oldest first, page after page."""
    query = ListQuery(
        status=args.status,
        sender=args.sender or "",
        recipient=args.recipient or "",
        subject=args.subject or "",
        case=args.case or "",
        rule=args.rule or "",
        received_from=args.since,
        received_to=args.until,
        sort="received",
        limit=500 if asked < 0 else min(asked, 500),
    )
    found: list[HeldSummary] = []
    while asked < 0 or len(found) < asked:
        page = await store.list_page(query)
        found += [row.summary for row in page.rows]
        if page.next is None:
            break
        query = replace(query, after=page.next)
    return found if asked < 0 else found[:asked]


def _show(args: argparse.Namespace) -> int:
    if args.show_evidence and not args.user:
        raise ConfigError("--show-evidence needs --user (your review account)")

    async def work(store: Store) -> tuple[HeldMessage | HeldSummary | None, list[str]]:
        if not args.user:
            return await store.summary(args.id), []
        user = await _login(store, args)
        review = _review(store, args)
        return await review.open(user, args.id), await review.approvals(args.id)

    shown, approvers = _run(args, work)
    if shown is None:
        raise NotFound(f"no message {args.id} in the quarantine")
    _print_header(shown, approvers)
    if isinstance(shown, HeldMessage):
        _print_contents(shown, settings_from(args).scan_limits())
    return 0


def _print_header(msg: HeldMessage | HeldSummary, approvers: list[str]) -> None:
    print(f"{msg.id}: {msg.status}{' (marked false positive)' if msg.false_positive else ''}")
    size = msg.size if isinstance(msg, HeldSummary) else len(msg.raw)
    rcpts = msg.rcpt_count if isinstance(msg, HeldSummary) else len(msg.rcpt_tos)
    print(f"  received {when(msg.received_at)}; {size} bytes; {rcpts} rcpt")
    print(f"  action {msg.action}, severity {msg.severity}, rules: {', '.join(msg.rules) or '-'}")
    if approvers:
        print(f"  approved by: {', '.join(approvers)}")
    for f in msg.findings:
        print(
            f"  finding {f.get('kind')} case={f.get('case') or '-'} at {f.get('location')} "
            f"confidence={f.get('confidence')} score={f.get('score')}"
            + (f" hidden={f['hidden']}" if f.get("hidden") else "")
        )


def _print_contents(msg: HeldMessage, limits: Limits) -> None:
    print(f"  mail from: {msg.mail_from}")
    print(f"  rcpt to: {', '.join(msg.rcpt_tos)}")
    if msg.mta_queue_id:
        print(f"  MTA queue id: {msg.mta_queue_id}")
    for e in msg.evidence:
        where = f"{e.get('location')}[{e.get('start')}:{e.get('end')}]"
        print(f"  evidence #{e.get('finding')} {where}: {e.get('text')!r}")
    extraction = extract(msg.raw, limits)  # within the scan's limits, as the console
    for segment in extraction.segments:
        print(f"\n--- {segment.location} ---\n{segment.text}")
    for part in extraction.unreadable:
        print(f"\n--- {part.location}: not readable ({part.reason}) ---")


def _act(args: argparse.Namespace) -> int:
    async def work(store: Store) -> str:
        user = await _login(store, args)
        review = _review(store, args)
        if args.action == "release":
            return outcome_text(await review.release(user, args.id, args.reason))
        if args.action == "reject":
            await review.reject(user, args.id, args.reason, args.notify_sender, args.sender_note)
            return f"{args.id}: rejected"
        await review.mark_false_positive(user, args.id, args.reason)
        return f"{args.id}: marked as a false positive"

    print(_run(args, work))
    return 0


def _retry(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[str]:
        review = _review(store, args)
        return [outcome_text(o) for o in await review.retry_pending()]

    lines = _run(args, work)
    print("\n".join(lines) if lines else "no pending releases")
    return 0


def _purge(args: argparse.Namespace) -> int:
    purged = _run(args, lambda store: _review(store, args).purge(cli_actor(), args.older_than))
    print(
        f"purged {len(purged)} messages older than {args.older_than:g} days "
        "(their audit records stay)"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    async def work(store: Store) -> bytes:
        return await _review(store, args).export(await _login(store, args), args.id)

    raw = _run(args, work)
    if args.output:
        args.output.write_bytes(raw)
        args.output.chmod(0o600)
        print(f"{args.id}: wrote {len(raw)} bytes to {args.output}")
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
    return 0


def summary_line(summary: HeldSummary) -> str:
    kinds = ",".join(summary.finding_kinds) or "-"
    return (
        f"{summary.id}  {when(summary.received_at)}  {summary.status}  {summary.severity}  "
        f"rules={','.join(summary.rules) or '-'}  findings={kinds}  {summary.size} bytes"
        + ("  false-positive" if summary.false_positive else "")
    )


def when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- users ----------------------------------------------------------------------------


def _user_add(args: argparse.Namespace) -> int:
    roles = accounts.parse_roles(args.role)
    password = read_secret(f"new password for {args.name}: ")

    async def work(store: Store) -> User:
        user = await accounts.add_user(
            store, args.name, args.email, roles, password, tuple(args.alias)
        )
        await record_event(store, cli_actor(), "user-add", f"user:{user.name}", added(user))
        return user

    user = _run(args, work, create=True)
    print(f"user {user.name} added: {', '.join(sorted(user.roles))}")
    return 0


def added(user: User) -> str:
    """The audit reason of a new account: its roles and how many aliases (no addresses)."""
    return f"roles {','.join(sorted(user.roles))}; {len(user.aliases)} aliases"


def _user_roles(args: argparse.Namespace) -> int:
    roles = accounts.parse_roles(args.role)

    async def work(store: Store) -> str:
        before = await accounts.get_user(store, args.name)
        user = await accounts.set_roles(store, args.name, roles)
        now, was = ",".join(sorted(user.roles)), ",".join(sorted(before.roles))
        await record_event(
            store, cli_actor(), "user-roles", f"user:{user.name}", f"roles {now} (were {was})"
        )
        return now

    print(f"user {args.name}: roles {_run(args, work)}")
    return 0


def _user_alias(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        if args.change == "add":
            await accounts.add_alias(store, args.name, args.address)
        else:
            await accounts.remove_alias(store, args.name, args.address)
        target, reason = f"user:{args.name}", f"alias {identity.fingerprint(args.address)}"
        await record_event(store, cli_actor(), f"user-alias-{args.change}", target, reason)

    _run(args, work)
    done = "added" if args.change == "add" else "removed"
    print(f"user {args.name}: alias {done}")
    return 0


def _user_email(args: argparse.Namespace) -> int:
    async def work(store: Store) -> None:
        await accounts.set_email(store, args.name, args.address)
        reason = f"email {identity.fingerprint(args.address)}"
        await record_event(store, cli_actor(), "user-email", f"user:{args.name}", reason)

    _run(args, work)
    print(f"user {args.name}: main address changed")
    return 0


def _user_change(args: argparse.Namespace) -> int:
    password = (
        read_secret(f"new password for {args.name}: ") if (args.change == "reset-password") else ""
    )

    async def work(store: Store) -> str:
        result = f"user {args.name}: {args.change} done"
        if args.change in ("disable", "enable"):
            await accounts.set_disabled(store, args.name, args.change == "disable")
        elif args.change == "reset-password":
            await accounts.reset_password(store, args.name, password)
        elif args.change == "totp-off":  # a lost phone: the user sets a new one up
            await accounts.set_totp(store, args.name, None)
        else:
            uri = await accounts.enrol_totp(store, args.name)
            result = f"user {args.name}: add this to the authenticator app, once:\n{uri}"
        await record_event(store, cli_actor(), f"user-{args.change}", f"user:{args.name}")
        return result

    print(_run(args, work))
    return 0


def _user_list(args: argparse.Namespace) -> int:
    users = _run(args, accounts.list_users)
    if not users:
        print("no users (add one: gateway user add NAME --email ADDRESS --role admin)")
    for user in users:
        flags = (" disabled" if user.disabled else "") + (" totp" if user.has_totp else "")
        aliases = f"  aliases: {', '.join(user.aliases)}" if user.aliases else ""
        clash = f"  CANNOT LOG IN: {user.clash}" if user.clash else ""
        print(f"{user.name}  {user.email}  {','.join(sorted(user.roles))}{flags}{aliases}{clash}")
    return 0


# -- audit ----------------------------------------------------------------------------


def _audit_list(args: argparse.Namespace) -> int:
    records = _run(args, lambda store: audit.records(store, target=args.target, limit=args.limit))
    for r in records:
        reason = f"  {r.reason}" if r.reason else ""
        print(f"{r.seq:>6}  {when(r.at)}  {r.actor}  {r.action}  {r.target or '-'}{reason}")
    if not records:
        print("no audit records")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    report = _run(args, audit.verify)
    if report.ok:
        print(f"audit chain intact: {report.records} records")
        return 0
    print(
        f"audit chain BROKEN at record {report.broken_at}: {report.problem} "
        f"({report.records} records)"
    )
    return 1
