"""A held message's searchable fields -> keyed blind index tokens (no clear text).

Sender, recipients and subject may identify people, so the database never holds them
in clear, not even for search.  What it holds instead is an HMAC, under a key derived
from the master key, of each value in the form a search compares: the canonical
address (``register.normalise.canonical_email``: case, plus-tags, provider dots), and
each word of the subject, NFKC-normalised and lower-cased.  A search computes the same
tokens from what the reviewer typed and asks for an exact match.

What this gives away to someone reading the database without the key: which messages
share a sender, a recipient, a subject or a subject word (equality), and how many words
a subject has; never a value.  Tokens are tagged with their field, so a sender and a
recipient with the same address get different tokens.  A new master key gives a new
index key: ``Store.rekey`` rebuilds the index.  Cases and rule ids are not personal
(they are in clear in the findings already) and are indexed as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.crypto import KeyRing
from gateway.register.normalise import canonical_email

PURPOSE = "console search index v1"
TOKEN_BYTES = 16
_WORD = re.compile(r"\w+")

#: the fields of ``message_terms``: recipient address, subject word, case, rule
TO, WORD, CASE, RULE = "to", "word", "case", "rule"


def subject_words(subject: str) -> list[str]:
    """``Tenancy: FLAT 3`` -> ``['tenancy', 'flat', '3']``: NFKC, lower case, words."""
    text = unicodedata.normalize("NFKC", subject).lower()
    return list(dict.fromkeys(_WORD.findall(text)))


@dataclass(frozen=True)
class MessageTerms:
    """What a held message puts in the index: its sort keys (tokens of the whole
    sender, recipient set and subject, so that equal ones sort together) and its search
    terms, (field, term) pairs."""

    sender_key: str
    rcpts_key: str
    subject_key: str
    first_case: str
    first_rule: str
    terms: tuple[tuple[str, str], ...]


class BlindIndex:
    """Tokens for one master key; ``id`` names the key (a different key, other tokens)."""

    __slots__ = ("_key", "id")

    def __init__(self, keys: KeyRing) -> None:
        self._key = keys.derive(PURPOSE)
        self.id = hashlib.sha256(b"blind index id\x00" + self._key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"BlindIndex(id={self.id})"

    def token(self, field: str, value: str) -> str:
        mac = hmac.new(self._key, f"{field}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[: 2 * TOKEN_BYTES]

    def sender(self, address: str) -> str:
        """The token of a sender address, as typed or as in the envelope."""
        return self.token("from", canonical_email(address))

    def recipient(self, address: str) -> str:
        return self.token(TO, canonical_email(address))

    def words(self, text: str) -> list[str]:
        """The tokens of each word of ``text`` (a search: all must be present)."""
        return [self.token(WORD, word) for word in subject_words(text)]

    def message(
        self,
        mail_from: str,
        rcpt_tos: Iterable[str],
        subject: str,
        cases: Iterable[str],
        rules: Iterable[str],
    ) -> MessageTerms:
        recipients = sorted({canonical_email(r) for r in rcpt_tos})
        cases, rules = sorted(set(cases)), list(dict.fromkeys(rules))
        terms = [(TO, self.token(TO, r)) for r in recipients]
        terms += [(WORD, token) for token in self.words(subject)]
        terms += [(CASE, case) for case in cases if case]
        terms += [(RULE, rule) for rule in rules if rule]
        return MessageTerms(
            sender_key=self.sender(mail_from),
            rcpts_key=self.token("rcpts", "\n".join(recipients)),
            subject_key=self.token("subject", " ".join(subject_words(subject))),
            first_case=cases[0] if cases else "",
            first_rule=sorted(rules)[0] if rules else "",
            terms=tuple(dict.fromkeys(terms)),
        )
