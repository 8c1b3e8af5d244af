"""TOML file, ``GATEWAY_*`` environment and command-line flags -> one frozen ``Settings``.

Precedence: flags over environment over file over defaults.  Loaded once by the CLI and
passed explicitly; nothing reads the environment anywhere else.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.extract.context import Limits

MIB = 1024 * 1024


def parse_hostport(value: str, what: str) -> tuple[str, int]:
    """``127.0.0.1:10025`` or ``[::1]:25`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"{what}: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def parse_milter(value: str) -> tuple[str, int] | Path:
    """``inet:HOST:PORT`` -> (host, port); ``unix:/path`` -> the socket's path (the
    forms Postfix's ``smtpd_milters`` takes)."""
    kind, sep, rest = value.partition(":")
    if sep and kind == "unix" and rest.startswith("/"):
        return Path(rest)
    if sep and kind == "inet":
        return parse_hostport(rest, "milter")
    raise ConfigError(f"milter: expected unix:/PATH or inet:HOST:PORT, got {value!r}")


def parse_mode(value: object) -> str:
    """A file mode as octal text (``"0660"``, ``"660"``, or a TOML ``0o660``) -> ``"0660"``."""
    try:
        mode = value if isinstance(value, int) else int(str(value).strip(), 8)
    except ValueError:
        mode = -1
    if isinstance(mode, bool) or not 0 <= mode <= 0o777:
        raise ConfigError(f"milter_socket_mode: expected an octal mode such as 0660, got {value!r}")
    return f"{mode:04o}"


@dataclass(frozen=True)
class Settings:
    """Everything the running gateway is configured with."""

    listen: tuple[str, int] = ("127.0.0.1", 10025)
    upstream: tuple[str, int] = ("127.0.0.1", 10026)
    data_dir: Path = Path("data")
    key_file: Path | None = None  # default: <data_dir>/master.key
    # "": the SQLite store in data_dir (one node); "postgresql://USER@HOST/DB": a
    # PostgreSQL database that several nodes share (every node with the same key_file)
    store: str = ""
    register: Path | None = None  # imported at start
    policies: Path | None = None  # default: the shipped policies/
    internal_domains: tuple[str, ...] = ()
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    console: tuple[str, int] | None = None
    metrics: tuple[str, int] | None = None
    milter: str | None = None  # unix:/path or inet:HOST:PORT: serve MTAs as a milter too
    # the milter's Unix socket: its mode (octal) and group, so the MTA's user can connect
    milter_socket_mode: str = "0660"
    milter_socket_group: str | None = None  # None: the gateway user's primary group
    hostname: str = "gateway.localdomain"
    max_message_bytes: int = 50 * MIB
    max_recipients: int = 100
    max_connections: int = 100
    idle_timeout: float = 300.0
    session_timeout: float = 3600.0  # a whole connection, however busy
    upstream_timeout: float = 60.0
    scan_timeout: float = 30.0  # a scan's wait for a worker and its answer, all told
    # seconds one message's scan (extraction and matching) may take; past it the message
    # is held as unscannable, and a scan process that does not stop is killed and replaced
    scan_budget: float = 10.0
    # read text in images and scanned pages by OCR (Tesseract); false: images are
    # unscannable, which the default policy holds for restricted contacts
    ocr: bool = True
    upstream_tls: str = "none"  # none | starttls | starttls-noverify
    upstream_pool: int = 16  # idle upstream connections kept for the next client session
    upstream_idle: float = 30.0  # seconds an idle pooled upstream connection is kept
    trace_header: bool = True
    # "<stamp_header>: scanned by <hostname>; id=...; <date>" on every message let
    # through; a message with max_stamps of ours, or hop_count_limit Received headers,
    # is refused as a routing loop (554 5.4.6)
    stamp_header: str = "X-Safe-Address-Gateway"
    max_stamps: int = 3
    hop_count_limit: int = 50
    tls_cert: Path | None = None  # PEM certificate chain: offers STARTTLS to clients
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # clients need TLS and a certificate from this CA
    auth_users: Path | None = None  # users file (gateway passwd): offers AUTH after STARTTLS
    require_auth: bool = False
    console_tls_cert: Path | None = None  # the console over HTTPS (needed off loopback)
    console_tls_key: Path | None = None
    console_idle_timeout: float = 900.0  # seconds without a request before a session ends
    console_session_lifetime: float = 8 * 3600.0
    console_url: str = ""  # the console's address as reviewers reach it, for notices
    console_require_totp: bool = False  # password accounts must set up TOTP before anything
    console_local_login: bool = True  # false: only single sign-on (oidc_issuer) logs in
    # single sign-on with OpenID Connect (Entra ID, Google Workspace, Keycloak...): the
    # issuer's discovery document gives the rest; the redirect URI to register at the
    # provider is <console_url>/login/sso/callback
    oidc_issuer: str = ""  # "": no single sign-on
    oidc_client_id: str = ""
    oidc_client_secret_file: Path | None = None
    oidc_scopes: tuple[str, ...] = ("openid", "profile", "email")
    oidc_groups_claim: str = "groups"  # the ID token claim listing the user's groups
    oidc_username_claim: str = "preferred_username"  # names the account (before any @)
    # group -> role(s): a TOML table {"gw-reviewers" = "reviewer", "gw-seniors" =
    # ["reviewer", "senior"]}; in the environment "gw-reviewers=reviewer;gw-seniors=reviewer,senior"
    oidc_group_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    oidc_display_name: str = "single sign-on"  # the login button: "Sign in with ..."
    # true: a sign-in (and a release's re-authentication) counts only when the ID token
    # says a second factor was used: "mfa" or two methods in amr (RFC 8176; Entra ID,
    # Keycloak), or an acr value listed in oidc_mfa_acr (e.g. Keycloak's level "2")
    oidc_require_mfa: bool = False
    oidc_mfa_acr: tuple[str, ...] = ()
    notify_from: str = "gateway@localhost"
    review_team: tuple[str, ...] = ()  # addresses told when a message is held
    notify_sender_on_hold: bool = False  # tell the sender that the message is held
    digest_hour: int = -1  # UTC hour for the review team's daily digest; -1: none
    retention_days: float = 90.0  # messages (any status) are purged after this
    # audit records (without their reasons) as JSON in RFC 5424 syslog messages, for a
    # SIEM: "udp://host:514", "tcp://host:601" or "unix:/dev/log"; "": none
    audit_syslog: str = ""
    release_retry: float = 120.0  # seconds between tries of a release the upstream refused
    # the largest share of the cases (or of the protected locations) a register import
    # may remove without --allow-shrink; a start whose --register file would remove more fails
    register_max_shrink: float = 0.05
    register_keep_versions: int = 0  # register versions kept, the newest; 0: every one
    # a master key file readable or writable by group or others stops the start, unless
    allow_insecure_key_permissions: bool = False
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)  # scan threads
    # > 0: scan in that many processes (each with its own index), not in threads
    scan_processes: int = field(default_factory=lambda: auto_scan_processes())

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "master.key"

    @property
    def database(self) -> Path:
        return self.data_dir / "gateway.sqlite3"

    def scan_limits(self) -> Limits:
        """The budgets of one message's scan, the same wherever it is read: the live
        scan, a rescan, and the review's view of a held message."""
        from gateway.extract.context import Limits  # noqa: PLC0415 - settings stays a leaf

        return Limits(time_budget_s=self.scan_budget, ocr=self.ocr)


def auto_scan_processes() -> int:
    """One scan process per core but one, which the SMTP server keeps (up to 8); on a
    single core, none: threads of the server process scan."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min((cores or 1) - 1, 8))


_HOSTPORT = {"listen", "upstream", "console", "metrics"}
_PATHS = {
    "data_dir",
    "key_file",
    "register",
    "policies",
    "tls_cert",
    "tls_key",
    "auth_users",
    "tls_client_ca",
    "console_tls_cert",
    "console_tls_key",
    "oidc_client_secret_file",
}
_LISTS = {"internal_domains", "trusted_networks", "review_team", "oidc_scopes", "oidc_mfa_acr"}
_BOOLS = {
    "trace_header",
    "require_auth",
    "notify_sender_on_hold",
    "ocr",
    "console_require_totp",
    "console_local_login",
    "oidc_require_mfa",
}
_TYPES = {f.name: f.type for f in fields(Settings)}
# Settings whose value must lie in a range (low, high; None: no bound).
_RANGES: dict[str, tuple[float, float | None]] = {
    "register_max_shrink": (0.0, 1.0),
    "register_keep_versions": (0, None),
    "max_stamps": (1, None),
    "hop_count_limit": (1, None),
}
# A header field name (RFC 5322, 3.6.8): printable ASCII but the colon.
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


def _milter_text(value: object) -> str:
    parse_milter(str(value))
    return str(value)


def _store_url(value: object) -> str:
    text = str(value).strip()
    if text and not text.startswith(PG_URL_PREFIXES):
        raise ConfigError(
            "store: expected a postgresql:// URL (or nothing, for the SQLite store in data_dir)"
        )
    return text


#: how a PostgreSQL store's URL begins (libpq's URI forms)
PG_URL_PREFIXES = ("postgresql://", "postgres://")


def _audit_syslog(value: object) -> str:
    from gateway.review.siem import check_setting  # noqa: PLC0415 - settings stays a leaf

    return check_setting(value)


def _header_name(value: object) -> str:
    if not _HEADER_NAME.fullmatch(str(value)):
        raise ConfigError(f"stamp_header: not a header name: {str(value)!r}")
    return str(value)


def parse_group_roles(value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``oidc_group_roles``: a TOML table of group -> role or roles, or the environment's
    ``group=role,role;group=role`` -> ((group, roles), ...); ``ConfigError`` naming the
    setting and what is wrong."""
    from gateway.review.model import ROLES  # noqa: PLC0415 - settings stays a leaf

    what = "oidc_group_roles"
    if isinstance(value, str):
        pairs: list[tuple[str, object]] = []
        for entry in filter(None, (e.strip() for e in value.split(";"))):
            group, sep, given = entry.partition("=")
            if not sep or not group.strip():
                raise ConfigError(f"{what}: expected GROUP=ROLE[,ROLE];..., got {entry!r}")
            pairs.append((group.strip(), given.split(",")))
    elif isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, tuple):
        return value  # already parsed (a flag's value)
    else:
        raise ConfigError(f'{what}: expected a table such as {{"gw-reviewers" = "reviewer"}}')
    out = []
    for group, roles in pairs:
        names: object = [roles] if isinstance(roles, str) else roles
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{what}: group {group!r}: expected a role or a list of roles")
        cleaned = tuple(str(r).strip() for r in names if str(r).strip())
        unknown = [r for r in cleaned if r not in ROLES]
        if unknown or not cleaned:
            raise ConfigError(
                f"{what}: group {group!r}: unknown role {unknown[0] if unknown else ''!r}"
                f" (roles: {', '.join(ROLES)})"
            )
        out.append((group, cleaned))
    return tuple(out)


# Settings checked (and kept as text, or parsed) by their own parser (which raises ConfigError).
_CHECKED: dict[str, Callable[[object], Any]] = {
    "oidc_group_roles": parse_group_roles,
    "milter": _milter_text,
    "milter_socket_mode": parse_mode,
    "stamp_header": _header_name,
    "store": _store_url,
    "audit_syslog": _audit_syslog,
}


def load_settings(
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from a TOML file, then ``GATEWAY_*`` variables, then flags (not None)."""
    values: dict[str, Any] = {}
    if config is not None:
        values.update(_from_toml(config))
    values.update(_from_env(os.environ if env is None else env))
    values.update({k: v for k, v in (flags or {}).items() if v not in (None, [], ())})
    return replace(Settings(), **{k: _coerce(k, v, "setting") for k, v in values.items()})


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    flat = {**data.pop("gateway", {}), **data}
    unknown = sorted(set(flat) - set(_TYPES))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return flat


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TYPES:
        raw = env.get(f"GATEWAY_{name.upper()}")
        if raw is not None:
            out[name] = raw.split(",") if name in _LISTS else raw
    return out


def _coerce(name: str, value: Any, where: str) -> Any:
    if name not in _TYPES:
        raise ConfigError(f"{where}: unknown setting {name!r}")
    try:
        if name in _CHECKED:
            return _CHECKED[name](value)
        if name in _HOSTPORT:
            return value if isinstance(value, tuple) else parse_hostport(str(value), name)
        if name in _PATHS:
            return Path(value)
        if name in _LISTS:
            return tuple(str(v).strip() for v in value if str(v).strip())
        if name in _BOOLS:
            return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
        default = getattr(Settings(), name)
        coerced = type(default)(value) if isinstance(default, int | float) else str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} {name}: invalid value") from exc
    if name in _RANGES:
        low, high = _RANGES[name]
        if float(coerced) < low or (high is not None and float(coerced) > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{where} {name}: must be {bounds}")
    return coerced
