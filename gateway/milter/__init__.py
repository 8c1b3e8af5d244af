"""Milter mode: the gateway as a Sendmail/Postfix mail filter.

``protocol`` is the sans-I/O codec (bytes -> commands, verdicts -> bytes); ``server``
holds the asyncio listener that feeds it and answers the MTA.
"""
