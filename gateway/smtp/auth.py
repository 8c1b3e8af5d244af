"""Optional SMTP AUTH (PLAIN, LOGIN, only after STARTTLS): a users file of scrypt hashes.

The file holds one ``user:scrypt$N$r$p$salt$hash`` line per account (``#`` comments),
written by ``gateway passwd``.  Passwords are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.errors import ConfigError

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encoded = [base64.b64encode(x).decode() for x in (salt, digest)]
    return f"scrypt${_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(digest)),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


def load_users(path: Path) -> dict[str, str]:
    """``user -> hash`` from a users file; a bad line is an error naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read users file ({exc.strerror})") from exc
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, stored = line.strip().partition(":")
        if not sep or not user or not stored.startswith("scrypt$"):
            raise ConfigError(f"{path}:{number}: expected user:scrypt$... (see gateway passwd)")
        users[user] = stored
    return users


class Authenticator:
    """aiosmtpd's authenticator callback over a users table."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        stored = self.users.get(user)
        ok = stored is not None and verify_password(
            stored, auth_data.password.decode("utf-8", "replace")
        )
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)
