"""Register file (version 1) -> typed models.

The format is the contract in ``shared/contracts/register.example.yaml``.  Unknown
fields are refused: a misspelt ``adresses`` silently ignored would leave a person
unprotected.  Validators check syntax (emails, phones, dates) and store the
canonical form next to what the file said; they never echo a value in an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.register import normalise


def error_reason(error: Any) -> str:
    """A validation error's message without the offending input (it may be a protected
    value): the register's loaders, its CSV reader and the store all report with it."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def _email(value: str) -> str:
    if not normalise.valid_email(value):
        raise ValueError("not a valid email address")
    return value.strip()


def _phone(value: str) -> str:
    if normalise.phone_e164(value) is None:
        raise ValueError("not a valid phone number")
    return value.strip()


def _date(value: object) -> object:
    if isinstance(value, str):
        parsed = normalise.parse_date(value)
        if parsed is None:
            raise ValueError("not a date (use YYYY-MM-DD or day-first DD/MM/YYYY)")
        return parsed
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


Email = Annotated[str, AfterValidator(_email)]
Phone = Annotated[
    str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), AfterValidator(_phone)
]
Text = Annotated[str, AfterValidator(_text)]
Day = Annotated[dt.date, BeforeValidator(_date)]
Dob = Day


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProtectedPerson(_Model):
    """Someone whose whereabouts and identity must not reach the restricted contacts."""

    name: Text
    aliases: list[Text] = Field(default_factory=list)
    date_of_birth: Dob | None = None
    addresses: list[Text] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)


class RestrictedContact(_Model):
    """Someone who must not learn anything about the case's protected people."""

    name: Text
    aliases: list[Text] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)


class Case(_Model):
    """One case: protected people, restricted contacts, and who may see the details."""

    id: Text
    protected: list[ProtectedPerson] = Field(min_length=1)
    restricted: list[RestrictedContact] = Field(default_factory=list)
    allowed_recipients: list[Email] = Field(default_factory=list)
    # When the case (its order, its referral) starts and ends, as the case system has
    # it.  Optional, and carried for the record: the matcher protects a case whatever
    # its dates, because a lapsed order does not make the victim safe.
    valid_from: Day | None = None
    valid_to: Day | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Case:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ProtectedLocation(_Model):
    """An address that must not leave the organisation at all (a refuge)."""

    id: Text
    label: str = ""
    address: Text


class Register(_Model):
    """A whole register file."""

    version: Literal[1]
    cases: list[Case] = Field(default_factory=list)
    protected_locations: list[ProtectedLocation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Register:
        seen: set[str] = set()
        for where, ident in [("cases", c.id) for c in self.cases] + [
            ("protected_locations", p.id) for p in self.protected_locations
        ]:
            if ident in seen:  # the loader reports each one at its own line
                raise PydanticCustomError(
                    "duplicate_id",
                    "duplicate id {ident} in {where}",
                    {"ident": ident, "where": where},
                )
            seen.add(ident)
        return self
