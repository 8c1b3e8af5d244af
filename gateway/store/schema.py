"""Ordered schema migrations -> a database at the newest schema version.

Each migration is one SQL script; the missing ones are applied with their
``schema_version`` rows in one transaction, so a crash leaves the old schema or the new.
Migrations are only ever appended; an applied one is never edited.
"""

from __future__ import annotations

import sqlite3

import aiosqlite

MIGRATIONS: tuple[str, ...] = (
    # 1: quarantine and register.  Sealed columns (BLOB) hold what may identify a
    # person: the message (raw), its envelope and evidence (details), the register text.
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('held', 'released', 'rejected')),
        status_at TEXT NOT NULL,
        action TEXT NOT NULL,
        severity TEXT NOT NULL,
        rules TEXT NOT NULL,
        findings TEXT NOT NULL,
        size INTEGER NOT NULL,
        rcpt_count INTEGER NOT NULL,
        details BLOB NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX messages_by_status ON messages (status, id);
    CREATE TABLE register_versions (
        version INTEGER PRIMARY KEY,
        imported_at TEXT NOT NULL,
        source TEXT NOT NULL,
        format TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
        cases INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    """,
    # 2: review.  Messages gain the 'releasing' status (released by a reviewer, not yet
    # accepted upstream) and a false-positive mark; a critical hold collects approvals;
    # accounts, console sessions and an append-only audit chain (triggers refuse
    # UPDATE and DELETE; the chain's MACs find what the triggers cannot stop).
    """
    CREATE TABLE messages_v2 (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('held', 'releasing', 'released', 'rejected')),
        status_at TEXT NOT NULL,
        action TEXT NOT NULL,
        severity TEXT NOT NULL,
        rules TEXT NOT NULL,
        findings TEXT NOT NULL,
        size INTEGER NOT NULL,
        rcpt_count INTEGER NOT NULL,
        details BLOB NOT NULL,
        raw BLOB NOT NULL,
        false_positive INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO messages_v2 (id, received_at, status, status_at, action, severity, rules,
                             findings, size, rcpt_count, details, raw)
        SELECT id, received_at, status, status_at, action, severity, rules,
               findings, size, rcpt_count, details, raw FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v2 RENAME TO messages;
    CREATE INDEX messages_by_status ON messages (status, id);
    CREATE TABLE approvals (
        message_id TEXT NOT NULL,
        user TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (message_id, user)
    );
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        roles TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        totp BLOB,
        disabled INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until REAL NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        seen REAL NOT NULL
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        prev TEXT NOT NULL,
        mac TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 3: register versions say who made them (actor), how (action: import, add, update,
    # remove, rollback), from what (source; source_digest, SHA-256 of the source file's
    # bytes) and the SHA-256 of their own text (digest).  Older rows keep '' (unknown).
    # canonical (sealed, NULL for older rows): each entry's validated JSON by id, which
    # the next change is compared with (register/diff.py) without validating again.
    # register_files remembers the last import from each file, beyond the retention of
    # versions: a restart imports its --register file again only when it changed.
    """
    ALTER TABLE register_versions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    ALTER TABLE register_versions ADD COLUMN action TEXT NOT NULL DEFAULT 'import';
    ALTER TABLE register_versions ADD COLUMN source_digest TEXT NOT NULL DEFAULT '';
    ALTER TABLE register_versions ADD COLUMN digest TEXT NOT NULL DEFAULT '';
    ALTER TABLE register_versions ADD COLUMN canonical BLOB;
    CREATE TABLE register_files (
        path TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        version INTEGER NOT NULL,
        imported_at TEXT NOT NULL
    );
    """,
    # 4: review rules.  Each account gets a stable random id (uid): approvals name the
    # account by it (user_id), so the four-eyes rule compares accounts, not typed names.
    # user_aliases holds the other addresses an account sends from (the sender rule
    # compares their canonical forms).  No unique index on folded names or addresses:
    # a store made before this migration may hold such duplicates, and must still open;
    # accounts.py refuses new ones and keeps clashing old ones from logging in.  The audit
    # chain's genesis record is written by the code (it needs the audit key), once, in
    # the same open as this migration (review/audit.py ``ensure_genesis``).
    """
    ALTER TABLE users ADD COLUMN uid TEXT;
    UPDATE users SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
    CREATE UNIQUE INDEX users_by_uid ON users (uid);
    CREATE TABLE user_aliases (
        uid TEXT NOT NULL,
        address TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (uid, address)
    );
    ALTER TABLE approvals ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
    UPDATE approvals SET user_id = coalesce(
        (SELECT uid FROM users WHERE users.name = approvals.user), '');
    """,
    # 5: the console's list at scale.  Sort keys in columns, each with an index per
    # status and one over every status, so that a page is read in order from an index
    # (keyset paging) whatever it is sorted by: severity as a rank, the blind index
    # tokens (store/blind.py) of the sender, the recipient set and the subject (equal
    # ones sort together; the values stay sealed), the first case and rule.  Search
    # terms in message_terms: HMAC tokens of recipients and subject words, and cases
    # and rule ids as they are.  A claim ("I'm on it"): who and since when.  terms_key
    # names the index key a row was indexed with: NULL until the code has indexed it
    # (a migration cannot compute HMACs: Store.open indexes older rows in batches).
    """
    ALTER TABLE messages ADD COLUMN severity_rank INTEGER NOT NULL DEFAULT 4;
    UPDATE messages SET severity_rank = CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                        WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END;
    ALTER TABLE messages ADD COLUMN sender_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN rcpts_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN subject_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN first_case TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN first_rule TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN claimed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN terms_key TEXT;
    CREATE INDEX messages_by_terms_key ON messages (terms_key, id);
    CREATE INDEX messages_by_status_severity_rank ON messages (status, severity_rank, id);
    CREATE INDEX messages_by_severity_rank ON messages (severity_rank, id);
    CREATE INDEX messages_by_status_received_at ON messages (status, received_at, id);
    CREATE INDEX messages_by_received_at ON messages (received_at, id);
    CREATE INDEX messages_by_status_sender_key ON messages (status, sender_key, id);
    CREATE INDEX messages_by_sender_key ON messages (sender_key, id);
    CREATE INDEX messages_by_status_rcpts_key ON messages (status, rcpts_key, id);
    CREATE INDEX messages_by_rcpts_key ON messages (rcpts_key, id);
    CREATE INDEX messages_by_status_subject_key ON messages (status, subject_key, id);
    CREATE INDEX messages_by_subject_key ON messages (subject_key, id);
    CREATE INDEX messages_by_status_first_case ON messages (status, first_case, id);
    CREATE INDEX messages_by_first_case ON messages (first_case, id);
    CREATE INDEX messages_by_status_first_rule ON messages (status, first_rule, id);
    CREATE INDEX messages_by_first_rule ON messages (first_rule, id);
    CREATE INDEX messages_by_status_claimed_by ON messages (status, claimed_by, id);
    CREATE INDEX messages_by_claimed_by ON messages (claimed_by, id);
    CREATE TABLE message_terms (
        field TEXT NOT NULL,
        term TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (field, term, message_id)
    );
    CREATE INDEX message_terms_by_message ON message_terms (message_id);
    """,
)


# The audit table's guards as migration 2 made them; a rekey drops and remakes them
# around its rewrap of the sealed reasons, inside its one transaction.
AUDIT_TRIGGERS = """
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


async def schema_version(db: aiosqlite.Connection) -> int:
    """The newest migration applied to ``db``; 0 for a new database."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    async with db.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection) -> int:
    """Apply every migration ``db`` lacks, in one transaction; the new schema version.

    The version is read again inside the write transaction, so two processes opening a
    new database at once do not both apply the same migration.
    """
    if await schema_version(db) >= len(MIGRATIONS):
        return len(MIGRATIONS)
    await db.execute("BEGIN IMMEDIATE")
    try:
        current = await schema_version(db)
        for number in range(current + 1, len(MIGRATIONS) + 1):
            for statement in statements(MIGRATIONS[number - 1]):
                await db.execute(statement)
            await db.execute("INSERT INTO schema_version VALUES (?, datetime('now'))", (number,))
        await db.commit()
    except BaseException:
        await db.rollback()
        raise
    return len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (a trigger body stays whole)."""
    out: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip())
            pending = ""
    return out
