"""review: a held message -> scanned again, for rules that say ``release: rescan``.

``StoredRescan`` is the rescanner of the command line: it builds the index from the
register in the store the first time a release needs it (a running gateway gives its
own, already built).
"""

from __future__ import annotations

import asyncio

from gateway.envelope import Envelope
from gateway.errors import ConfigError
from gateway.match import Index, build_index
from gateway.policy import Policy, default_policy_dir, load_policy
from gateway.scan import ScanResult, ScanSettings, scan
from gateway.settings import Settings
from gateway.store import Store


class StoredRescan:
    """The policy in the settings and the register in the store, as a ``Rescanner``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self._policy = load_policy(settings.policies or default_policy_dir())
        self._settings = ScanSettings(settings.internal_domains, settings.scan_limits())
        self._index: Index | None = None

    @property
    def policy(self) -> Policy:
        return self._policy

    async def __call__(self, envelope: Envelope) -> ScanResult:
        if self._index is None:
            register = await self.store.load_register()
            if register is None:
                raise ConfigError("no register imported yet: cannot rescan")
            self._index = await asyncio.to_thread(
                build_index, register.cases, register.protected_locations
            )
        return await asyncio.to_thread(scan, envelope, self._index, self._policy, self._settings)
