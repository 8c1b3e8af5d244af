"""The register of protected people, restricted contacts and protected locations."""

from gateway.register.load import load_register, parse_register
from gateway.register.model import (
    Case,
    ProtectedLocation,
    ProtectedPerson,
    Register,
    RestrictedContact,
)

__all__ = [
    "Case",
    "ProtectedLocation",
    "ProtectedPerson",
    "Register",
    "RestrictedContact",
    "load_register",
    "parse_register",
]
