"""A store as the version before genesis records and account ids left it (schema 3)."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.review import accounts, audit
from gateway.store.schema import MIGRATIONS, statements

from .conftest import PASSWORD

OLD_SCHEMA = 3
__all__ = ["OLD_SCHEMA", "PASSWORD", "old_store"]


def old_store(
    path: Path, keys: KeyRing, users: Sequence[tuple[str, str]] = (), records: int = 0
) -> None:
    """Write at ``path`` a schema-3 store holding ``users`` (name, email; seniors with
    ``PASSWORD``) and an audit chain of ``records`` records, made as that version made
    them: linked from the all-zero value, the audit key made on first use."""
    password_hash = accounts.hash_password(PASSWORD)
    now = dt.datetime.now(dt.UTC).isoformat()
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for number, script in enumerate(MIGRATIONS[:OLD_SCHEMA], 1):
            for statement in statements(script):
                db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?, datetime('now'))", (number,))
        db.execute("INSERT INTO meta VALUES ('key_id', ?)", (keys.id.hex(),))
        for name, email in users:
            db.execute(
                "INSERT INTO users (name, email, roles, password_hash, created_at)"
                " VALUES (?, ?, 'senior', ?, ?)",
                (name, email, password_hash, now),
            )
        if records:
            _old_chain(db, keys, records, now)
        db.commit()


def _old_chain(db: sqlite3.Connection, keys: KeyRing, records: int, now: str) -> None:
    key = secrets.token_bytes(32)
    db.execute("INSERT INTO meta VALUES ('audit_key', ?)", (keys.seal("audit-key", key).hex(),))
    prev = audit.GENESIS
    for seq in range(1, records + 1):
        row = (seq, now, "cli:admin", "user-add", f"user:u{seq}", "", prev)
        mac = audit._mac(key, *row[:5], "", prev)  # as that version did
        db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*row, mac))
        prev = mac
    head = audit._head(key, records, prev)
    db.execute("INSERT INTO meta VALUES ('audit_head', ?)", (head,))
