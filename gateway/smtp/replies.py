"""Every SMTP reply text the gateway writes itself, in one place.

No reply ever says what matched: a held message is answered exactly like a relayed
one ("queued as" the gateway's own id), so the sender learns nothing from the reply.
"""

from __future__ import annotations

ACCESS_DENIED = "554 5.7.1 Access denied"
SESSION_TOO_LONG = "421 4.4.2 Session too long, closing"
TOO_BUSY = "421 4.7.0 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
UPSTREAM_UNAVAILABLE = "451 4.4.1 Upstream temporarily unavailable, try again later"
INTERNAL_ERROR = "451 4.3.0 Temporary failure, try again later"
STORAGE_FAILED = "452 4.3.1 Temporary storage failure, try again later"
BAD_SENDER_SYNTAX = "501 5.1.7 Bad sender address syntax"
BAD_RECIPIENT_SYNTAX = "501 5.1.3 Bad recipient address syntax"
BAD_PARAMETERS = "501 5.5.4 Bad parameter syntax"
NEEDS_SMTPUTF8 = "553 5.6.7 Non-ASCII address needs SMTPUTF8"  # RFC 6531, 3.5
NO_VALID_RECIPIENTS = "554 5.5.1 No valid recipients"
CANNOT_VRFY = "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
REJECTED = "550 5.7.1 Message refused by policy"
TEMPFAIL = "451 4.7.1 Message deferred by policy, try again later"
MESSAGE_TOO_BIG = "552 5.3.4 Message too big for the gateway"
ROUTING_LOOP = "554 5.4.6 Routing loop detected"  # RFC 3463: X.4.6, routing loop


def queued(message_id: str) -> str:
    """The reply for a message relayed or held: the same, with the gateway's own id."""
    return f"250 2.0.0 Ok: queued as {message_id}"


def from_upstream(code: int, message: str) -> str:
    """An upstream reply passed on as it came (multi-line replies joined safely)."""
    lines = [line for line in message.splitlines() if line.strip()] or ["(no text)"]
    if len(lines) == 1:
        return f"{code} {lines[0]}"
    return "\r\n".join(f"{code}-{line}" for line in lines[:-1]) + f"\r\n{code} {lines[-1]}"
