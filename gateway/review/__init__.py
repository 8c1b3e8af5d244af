"""review: held messages -> released, rejected or marked, by people with the right roles,
every step in the audit chain.  The CLI and the console both go through ``Review``."""

from gateway.review.deliver import Deliverer, DeliveryError, SmtpDeliverer
from gateway.review.model import ROLES, AuditRecord, ChainReport, ReleaseOutcome, Role, User
from gateway.review.notify import Notifier, NotifySettings
from gateway.review.service import Review, is_sender, outcome_text, record_event

__all__ = [
    "ROLES",
    "AuditRecord",
    "ChainReport",
    "Deliverer",
    "DeliveryError",
    "Notifier",
    "NotifySettings",
    "ReleaseOutcome",
    "Review",
    "Role",
    "SmtpDeliverer",
    "User",
    "is_sender",
    "outcome_text",
    "record_event",
]
