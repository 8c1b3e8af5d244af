"""The register's versions in the store: each change a new sealed version, never edited.

The newest version is the current one.  Each version records who made it (actor), how
(action: import, add, update, remove, rollback), from what (source, and the SHA-256 of
the source file's bytes) and the SHA-256 of its own text, and keeps, sealed beside its
text, its canonical form for the next diff (``register/diff.py``).  ``register_files``
remembers the last import from each file.  Retention (``keep``) drops the oldest
versions beyond that many, never the newest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from typing import Literal, NamedTuple

from pydantic import ValidationError

from gateway.crypto import KeyRing
from gateway.errors import ConfigError, Conflict
from gateway.register import Register, parse_register
from gateway.register.diff import RegisterDiff, canonical, diff_registers, diff_stored
from gateway.register.model import error_reason
from gateway.store.base import Connection, guard, now
from gateway.store.model import RegisterVersion

_REMEMBER_FILE = (
    "INSERT INTO register_files VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE"
    " SET digest = excluded.digest, version = excluded.version,"
    " imported_at = excluded.imported_at"
)
_ALL = 1 << 62  # LIMIT for every row (PostgreSQL has no LIMIT -1)
_VERSIONS = (
    "SELECT version, imported_at, source, cases, actor, action, digest, source_digest"
    " FROM register_versions"
)


def _register_id(version: int) -> str:
    return f"register:{version}"


def _canonical_id(version: int) -> str:
    return f"register:{version}/canonical"


def text_digest(text: str) -> str:
    """SHA-256 (hex) of a register version's text, as the store records it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RegisterSource(NamedTuple):
    """A stored register version as text, to be parsed where it is used."""

    version: int
    text: str
    name: str  # what errors call it: register:VERSION.FORMAT

    def parse(self) -> Register:
        """Validated: seconds for a large register, so not on the event loop."""
        return parse_register(self.text, self.name)

    @property
    def format(self) -> Literal["yaml", "json"]:
        return "json" if self.name.endswith(".json") else "yaml"


class Origin(NamedTuple):
    """Who makes a register version, how, and from what."""

    actor: str
    action: str = "import"  # import, add, update, remove, rollback
    source: str = ""  # a file's path, an upload's name, "version 3"
    source_digest: str = ""  # SHA-256 (hex) of the source file's bytes
    file: str | None = None  # an import from this file (absolute path): remembered


class FileImport(NamedTuple):
    """The last import from one file: the version it made and the file's digest then."""

    version: int
    digest: str


class CaseCounts(NamedTuple):
    """A case of the register as the console lists it (no protected value)."""

    case: str
    protected: int
    restricted: int
    allowed: int


class RegisterVersions(Connection):
    """Import, change, list, roll back and trim the register's versions."""

    _cases: tuple[int, list[CaseCounts]] | None = None  # register_cases, per version

    async def import_register(
        self, text: str, source: str, origin: Origin | None = None, keep: int = 0
    ) -> int:
        """Validate ``text`` as a register file and store it as the next version."""
        # A RegisterError goes to the caller as is.  Parsing a large register takes
        # seconds: in a thread, so that the event loop (SMTP, console) keeps going.
        register = await asyncio.to_thread(parse_register, text, source)
        fmt = "json" if source.endswith(".json") else "yaml"
        origin = origin or Origin("", "import", source)
        return await self.save_register(
            text, fmt, len(register.cases), origin, keep=keep, canonical_text=canonical(register)
        )

    async def save_register(
        self,
        text: str,
        fmt: str,
        cases: int,
        origin: Origin,
        *,
        after: int | None = None,
        keep: int = 0,
        canonical_text: str | None = None,
    ) -> int:
        """Store validated ``text`` as the next version; the new version.  ``after``: the
        version the change was made against (``Conflict`` if another came meanwhile);
        ``keep`` > 0: drop the versions older than the newest ``keep``;
        ``canonical_text``: the register's ``diff.canonical`` form, kept for diffs."""
        with guard("store the register"):
            async with self._writing, self._transaction():
                await self.serialise("register")
                version = await self.register_version() + 1
                if after is not None and version != after + 1:
                    raise Conflict(
                        f"the register changed meanwhile (now version {version - 1}); "
                        "look at the change again"
                    )
                await self._insert_version(version, text, fmt, cases, origin)
                await self.announce_change()
                if canonical_text is not None:
                    await self._set_canonical(version, canonical_text)
                if origin.file is not None:
                    await self._changed(
                        _REMEMBER_FILE, (origin.file, origin.source_digest, version, now())
                    )
                if keep > 0:
                    await self._changed(
                        "DELETE FROM register_versions WHERE version <= ?", (version - keep,)
                    )
        return version

    async def _insert_version(
        self, version: int, text: str, fmt: str, cases: int, origin: Origin
    ) -> None:
        body = self._keys.seal(_register_id(version), text.encode("utf-8"))
        made = (origin.actor, origin.action, origin.source_digest, text_digest(text))
        await self._changed(
            "INSERT INTO register_versions (version, imported_at, source, format, cases, body,"
            " actor, action, source_digest, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (version, now(), origin.source, fmt, cases, body, *made),
        )

    async def _set_canonical(self, version: int, text: str) -> None:
        body = self._keys.seal(_canonical_id(version), text.encode("utf-8"))
        await self._changed(
            "UPDATE register_versions SET canonical = ? WHERE version = ?", (body, version)
        )

    async def register_canonical(self, version: int | None = None) -> tuple[int, str] | None:
        """A version (by default the newest) and its ``diff.canonical`` form; for a
        version stored without one, made from its text now (and kept)."""
        with guard("read the register"):
            row = await self._one(
                "SELECT version, canonical FROM register_versions"
                " WHERE version = coalesce(?, (SELECT max(version) FROM register_versions))",
                (version,),
            )
        if row is None:
            return None
        number, body = int(row[0]), row[1]
        if body is not None:
            return number, self._keys.open(_canonical_id(number), body).decode("utf-8")
        source = await self.register_source(number)
        assert source is not None  # versions are removed only by a newer one's retention
        text = canonical(await asyncio.to_thread(source.parse))
        with guard("store the register"):
            async with self._writing:
                await self._set_canonical(number, text)
        return number, text

    async def compare_register(self, register: Register) -> tuple[int, RegisterDiff]:
        """The current version (0: none) and what replacing it with ``register`` would
        add, remove and change (the diff in a thread: seconds for a large register)."""
        version, stored = await self.register_canonical() or (0, None)
        return version, await asyncio.to_thread(diff_stored, stored, register)

    async def register_version(self) -> int:
        """The newest register version; 0 when none was imported.  Cheap enough to poll."""
        with guard("read the register version"):
            row = await self._one("SELECT coalesce(max(version), 0) FROM register_versions")
        return int(row[0]) if row else 0

    async def register_info(self) -> RegisterVersion | None:
        """Who made the newest register version, when and from what; ``None`` if none."""
        versions = await self.register_versions(limit=1)
        return versions[0] if versions else None

    async def register_versions(self, limit: int = -1) -> list[RegisterVersion]:
        """The versions kept, newest first (the first is the current one).  A version
        made before schema 3 gets its digest now (kept for the next time)."""
        with guard("read the register versions"):
            rows = await self._all(
                f"{_VERSIONS} ORDER BY version DESC LIMIT ?", (limit if limit >= 0 else _ALL,)
            )
        out = []
        for version, at, source, cases, actor, action, stored, source_digest in rows:
            digest = stored or await self._backfill_digest(version)
            when = dt.datetime.fromisoformat(at)
            out.append(
                RegisterVersion(version, when, source, cases, actor, action, digest, source_digest)
            )
        return out

    async def _backfill_digest(self, version: int) -> str:
        """The digest of a version made before schema 3, computed once and kept."""
        found = await self.register_source(version)
        if found is None:
            return ""
        digest = text_digest(found.text)
        with guard("store the register digest"):
            async with self._writing:
                await self._changed(
                    "UPDATE register_versions SET digest = ? WHERE version = ? AND digest = ''",
                    (digest, version),
                )
        return digest

    async def register_source(self, version: int | None = None) -> RegisterSource | None:
        """A version's text (by default the newest), unsealed; ``None`` if there is none."""
        with guard("read the register"):
            row = await self._one(
                "SELECT version, format, body FROM register_versions"
                " WHERE version = coalesce(?, (SELECT max(version) FROM register_versions))",
                (version,),
            )
        if row is None:
            return None
        number, fmt, body = row
        text = self._keys.open(_register_id(number), body).decode("utf-8")
        return RegisterSource(number, text, f"{_register_id(number)}.{fmt}")

    async def load_register(self) -> Register | None:
        """The newest register version, unsealed and validated; ``None`` if none."""
        source = await self.register_source()
        return None if source is None else await asyncio.to_thread(source.parse)

    async def last_file_import(self, path: str, *names: str) -> FileImport | None:
        """The last import from the file at ``path`` (absolute); for an import made
        before schema 3, the newest version whose source is ``path`` or one of ``names``
        (the path as it was given then), with the digest of its text."""
        with guard("read the register"):
            row = await self._one(
                "SELECT version, digest FROM register_files WHERE path = ?", (path,)
            )
            if row is not None:
                return FileImport(int(row[0]), str(row[1]))
            sources = [path, *names]
            marks = ", ".join("?" * len(sources))  # placeholders only: no value in the SQL
            row = await self._one(
                "SELECT max(version) FROM register_versions"  # noqa: S608
                f" WHERE source_digest = '' AND source IN ({marks})",
                tuple(sources),
            )
        if row is None or row[0] is None:
            return None
        # The store kept the file's text as it was read: its digest stands for the file's.
        source = await self.register_source(int(row[0]))
        return FileImport(int(row[0]), "" if source is None else text_digest(source.text))

    async def remember_file(self, path: str, digest: str, version: int) -> None:
        """Note that the file at ``path`` (with ``digest``) holds what ``version`` holds,
        so that a restart does not read it again."""
        with guard("store the register"):
            async with self._writing:
                await self._changed(_REMEMBER_FILE, (path, digest, version, now()))

    async def register_cases(self) -> list[CaseCounts]:
        """Each case of the newest version with its counts of protected people,
        restricted contacts and allowed recipients; parsed once per version."""
        if self._cases is None or self._cases[0] != await self.register_version():
            source = await self.register_source()
            cases = [] if source is None else (await asyncio.to_thread(source.parse)).cases
            counts = [
                CaseCounts(c.id, len(c.protected), len(c.restricted), len(c.allowed_recipients))
                for c in cases
            ]
            self._cases = (0 if source is None else source.version, counts)
        return self._cases[1]

    async def change_cases(
        self, entries: Register, mode: Literal["add", "update"], origin: Origin, keep: int = 0
    ) -> tuple[int, RegisterDiff]:
        """Add the cases and protected locations of ``entries`` (``add``: none may be in
        the register yet) or replace them (``update``: each must be there); the new
        version (0 when nothing changed) and what changed."""
        version, current = await self._current()
        merged = _merged(current, entries, mode, version)
        diff = diff_registers(current, merged)
        if diff.empty:
            return 0, diff
        return await self._save_model(merged, origin, version, keep), diff

    async def remove_case(self, case_id: str, origin: Origin | None = None, keep: int = 0) -> int:
        """Store a new register version without case (or protected location) ``case_id``."""
        version, current = await self._current()
        kept = current.model_copy(
            update={
                "cases": [c for c in current.cases if c.id != case_id],
                "protected_locations": [p for p in current.protected_locations if p.id != case_id],
            }
        )
        if len(kept.cases) + len(kept.protected_locations) == len(current.cases) + len(
            current.protected_locations
        ):
            raise ConfigError(f"no case {case_id!r} in register version {version}")
        origin = origin or Origin("", "remove", f"version {version} without {case_id}")
        return await self._save_model(kept, origin, version, keep)

    async def _current(self) -> tuple[int, Register]:
        source = await self.register_source()
        if source is None:
            raise ConfigError("no register imported yet")
        return source.version, await asyncio.to_thread(source.parse)

    async def _save_model(self, register: Register, origin: Origin, after: int, keep: int) -> int:
        """A register made here (not read from a file) as the next version, in JSON."""
        data = register.model_dump(mode="json", exclude_defaults=True)
        text = json.dumps(data, ensure_ascii=False, indent=1)
        # It must load again, exactly as it will in the gateway.
        await asyncio.to_thread(parse_register, text, "change.json")
        return await self.save_register(
            text,
            "json",
            len(register.cases),
            origin,
            after=after,
            keep=keep,
            canonical_text=canonical(register),
        )

    async def _rewrap_register(self, new: KeyRing) -> int:
        rows = await self._all("SELECT version, body, canonical FROM register_versions")
        for version, body, form in rows:
            rewrapped = self._keys.rewrap(_register_id(version), body, new)
            kept = None if form is None else self._keys.rewrap(_canonical_id(version), form, new)
            await self._changed(
                "UPDATE register_versions SET body = ?, canonical = ? WHERE version = ?",
                (rewrapped, kept, version),
            )
        return len(rows)


def _merged(
    current: Register, entries: Register, mode: Literal["add", "update"], version: int
) -> Register:
    """``current`` with the cases and protected locations of ``entries`` added or
    replaced in place; a ``ConfigError`` naming the first id that does not fit ``mode``."""
    have = {c.id for c in current.cases} | {p.id for p in current.protected_locations}
    for ident in [c.id for c in entries.cases] + [p.id for p in entries.protected_locations]:
        if mode == "add" and ident in have:
            raise ConfigError(
                f"{ident} is already in register version {version} (use register update)"
            )
        if mode == "update" and ident not in have:
            raise ConfigError(f"no {ident} in register version {version} (use register add)")
    cases = {c.id: c for c in entries.cases}
    places = {p.id: p for p in entries.protected_locations}
    data: dict[str, object] = {
        "version": 1,
        "cases": [cases.pop(c.id, c) for c in current.cases] + list(cases.values()),
        "protected_locations": [places.pop(p.id, p) for p in current.protected_locations]
        + list(places.values()),
    }
    try:  # validated again: an id may now stand in both lists
        return Register.model_validate(data)
    except ValidationError as exc:
        why = error_reason(exc.errors()[0])
        raise ConfigError(f"the changed register would not be valid: {why}") from None
