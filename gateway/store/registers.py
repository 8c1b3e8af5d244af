"""The register's versions in the store: each import a new sealed version, never edited."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import NamedTuple

from gateway.crypto import KeyRing
from gateway.errors import ConfigError
from gateway.register import Register, parse_register
from gateway.store.base import Connection, guard, now
from gateway.store.model import RegisterVersion, StoreError


def _register_id(version: int) -> str:
    return f"register:{version}"


class RegisterSource(NamedTuple):
    """A stored register version as text, to be parsed where it is used."""

    version: int
    text: str
    name: str  # what errors call it: register:VERSION.FORMAT

    def parse(self) -> Register:
        """Validated: seconds for a large register, so not on the event loop."""
        return parse_register(self.text, self.name)


class CaseCounts(NamedTuple):
    """A case of the register as the console lists it (no protected value)."""

    case: str
    protected: int
    restricted: int
    allowed: int


class RegisterVersions(Connection):
    """Import, read and trim the register; the newest version is the one in force."""

    _cases: tuple[int, list[CaseCounts]] | None = None  # register_cases, per version

    async def import_register(self, text: str, source: str) -> int:
        """Validate ``text`` as a register file and store it as the next version."""
        # A RegisterError goes to the caller as is.  Parsing a large register takes
        # seconds: in a thread, so that the event loop (SMTP, console) keeps going.
        register = await asyncio.to_thread(parse_register, text, source)
        fmt = "json" if source.endswith(".json") else "yaml"
        return await self._add_register(text, source, fmt, len(register.cases))

    async def _add_register(
        self, text: str, source: str, fmt: str, cases: int, after: int | None = None
    ) -> int:
        with guard("store the register"):
            async with self._writing, self._transaction():
                version = await self.register_version() + 1
                if after is not None and version != after + 1:
                    raise StoreError("store: the register changed meanwhile; try again")
                body = self._keys.seal(_register_id(version), text.encode("utf-8"))
                await self._db.execute(
                    "INSERT INTO register_versions VALUES (?, ?, ?, ?, ?, ?)",
                    (version, now(), source, fmt, cases, body),
                )
        return version

    async def register_version(self) -> int:
        """The newest register version; 0 when none was imported.  Cheap enough to poll."""
        with guard("read the register version"):
            row = await self._one("SELECT coalesce(max(version), 0) FROM register_versions")
        return int(row[0]) if row else 0

    async def register_info(self) -> RegisterVersion | None:
        """When and from where the newest register version came; ``None`` if none."""
        with guard("read the register"):
            row = await self._one(
                "SELECT version, imported_at, source, cases FROM register_versions"
                " ORDER BY version DESC LIMIT 1"
            )
        if row is None:
            return None
        return RegisterVersion(row[0], dt.datetime.fromisoformat(row[1]), row[2], row[3])

    async def register_source(self) -> RegisterSource | None:
        """The newest register version's text, unsealed; ``None`` if none."""
        with guard("read the register"):
            row = await self._one(
                "SELECT version, format, body FROM register_versions ORDER BY version DESC LIMIT 1"
            )
        if row is None:
            return None
        version, fmt, body = row
        text = self._keys.open(_register_id(version), body).decode("utf-8")
        return RegisterSource(version, text, f"{_register_id(version)}.{fmt}")

    async def load_register(self) -> Register | None:
        """The newest register version, unsealed and validated; ``None`` if none."""
        source = await self.register_source()
        return None if source is None else await asyncio.to_thread(source.parse)

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

    async def remove_case(self, case_id: str) -> int:
        """Store a new register version without case ``case_id``; the new version."""
        version = await self.register_version()
        current = await self.load_register()
        if current is None:
            raise ConfigError("no register imported yet")
        kept = [case for case in current.cases if case.id != case_id]
        if len(kept) == len(current.cases):
            raise ConfigError(f"no case {case_id!r} in register version {version}")
        data = current.model_copy(update={"cases": kept}).model_dump(mode="json")
        text = json.dumps(data, ensure_ascii=False, indent=1)
        await asyncio.to_thread(parse_register, text, "removal.json")  # it must load again
        source = f"version {version} without case {case_id}"
        return await self._add_register(text, source, "json", len(kept), after=version)

    async def _rewrap_register(self, new: KeyRing) -> int:
        rows = await self._all("SELECT version, body FROM register_versions")
        for version, body in rows:
            rewrapped = self._keys.rewrap(_register_id(version), body, new)
            await self._db.execute(
                "UPDATE register_versions SET body = ? WHERE version = ?", (rewrapped, version)
            )
        return len(rows)
