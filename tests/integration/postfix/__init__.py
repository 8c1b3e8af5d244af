"""Postfix end to end: a private Postfix, the gateway and an smtp-sink upstream, on loopback."""
