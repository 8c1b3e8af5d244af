"""The store's schema on PostgreSQL, and its migrations for several nodes at once.

The first script makes the tables as SQLite's migrations 1-4 (``schema.py``) leave
them, with PostgreSQL's types (``BYTEA`` for sealed columns, ``DOUBLE PRECISION`` for
times in seconds) and the audit table's append-only guard as one trigger function.
Each later SQLite migration gets its PostgreSQL twin here, under the same number, so
``schema_version`` means the same on both.  Nodes starting together migrate one at a
time: the migration runs in one transaction under an advisory lock.
"""

from __future__ import annotations

import psycopg

from gateway.store.model import StoreError
from gateway.store.schema import MIGRATIONS

#: (schema version reached, script); the first one stands for SQLite's 1-4
PG_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        4,
        """
        CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('held', 'releasing', 'released', 'rejected')),
            status_at TEXT NOT NULL,
            action TEXT NOT NULL,
            severity TEXT NOT NULL,
            rules TEXT NOT NULL,
            findings TEXT NOT NULL,
            size BIGINT NOT NULL,
            rcpt_count INTEGER NOT NULL,
            details BYTEA NOT NULL,
            raw BYTEA NOT NULL,
            false_positive INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX messages_by_status ON messages (status, id);
        CREATE TABLE register_versions (
            version INTEGER PRIMARY KEY,
            imported_at TEXT NOT NULL,
            source TEXT NOT NULL,
            format TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
            cases INTEGER NOT NULL,
            body BYTEA NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL DEFAULT 'import',
            source_digest TEXT NOT NULL DEFAULT '',
            digest TEXT NOT NULL DEFAULT '',
            canonical BYTEA
        );
        CREATE TABLE register_files (
            path TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            version INTEGER NOT NULL,
            imported_at TEXT NOT NULL
        );
        CREATE TABLE approvals (
            message_id TEXT NOT NULL,
            "user" TEXT NOT NULL,
            at TEXT NOT NULL,
            user_id TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (message_id, "user")
        );
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            roles TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            totp BYTEA,
            disabled INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            locked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            uid TEXT
        );
        CREATE UNIQUE INDEX users_by_uid ON users (uid);
        CREATE TABLE user_aliases (
            uid TEXT NOT NULL,
            address TEXT NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (uid, address)
        );
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            "user" TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            seen DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE audit (
            seq BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            prev TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only';
        END
        $$;
        CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
            FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
        """,
    ),
    # 5: the list's sort keys, claims and search terms: SQLite's script is PostgreSQL's
    # too (ALTER TABLE ... ADD COLUMN, CREATE INDEX and CASE read the same on both).
    (5, MIGRATIONS[4]),
)

# Both databases reach the same schema version, or one of them lacks a migration.
assert PG_MIGRATIONS[-1][0] == len(MIGRATIONS), "schema.py has a migration pg_schema.py lacks"

#: the advisory lock nodes take to migrate one at a time
MIGRATION_LOCK = "safe-address-gateway:migrate"


async def pg_migrate(conn: psycopg.AsyncConnection) -> bool:
    """Bring the database to the newest schema, one node at a time; True when this
    call made the schema (a new store)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current == 0 and await _has_tables(conn):
            raise StoreError(
                "store: the database holds the gateway's tables but no schema version: "
                "it was changed outside the gateway; restore it from a backup"
            )
        for version, script in PG_MIGRATIONS:
            if version > current:
                await conn.execute(script.encode())
                await conn.execute(
                    "INSERT INTO schema_version VALUES (%s, now()::text)", (version,)
                )
    return current == 0


async def _has_tables(conn: psycopg.AsyncConnection) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'"
    )
    return await cursor.fetchone() is not None
