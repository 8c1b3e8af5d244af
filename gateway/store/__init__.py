"""The durable store: quarantined messages and register versions, encrypted at rest."""

from gateway.store.db import Store
from gateway.store.model import (
    STATUSES,
    HeldMessage,
    HeldSummary,
    RegisterVersion,
    RekeyCounts,
    Status,
    StoreError,
    new_message_id,
)

__all__ = [
    "STATUSES",
    "HeldMessage",
    "HeldSummary",
    "RegisterVersion",
    "RekeyCounts",
    "Status",
    "Store",
    "StoreError",
    "new_message_id",
]
