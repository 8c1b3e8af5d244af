"""Mapping file (YAML) -> ``Mapping``: which column of a case-management system's CSV
export holds which register field, and what the export's role values mean.

    columns:
      case_id: Case Reference
      role: Involvement
      name: [Forename, Surname]      # several columns: joined with a space
      aliases: Known As              # each cell may hold several, split at `separator`
      address_lines: [Address 1, Address 2, Town]   # joined with ", ", then the postcode
      postcode: Postcode
      phones: [Mobile, Home Phone]
      emails: Email
      date_of_birth: Date of Birth   # day first: 17/04/1988, 17/4/88, or 1988-04-17
      valid_from: Opened
      valid_to: Closed
    roles: {Victim: protected, Child: child, Alleged Perpetrator: restricted,
            Caseworker: allowed, Referrer: ignore}

Column names and role values match whatever their case and spacing.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic import field_validator as validates

from gateway.errors import RegisterError, RegisterErrors
from gateway.register.model import error_reason
from gateway.yamlsource import SourceError, parse_located

Role = Literal["protected", "child", "restricted", "allowed", "ignore"]
Header = Annotated[str, Field(min_length=1)]
Headers = Annotated[list[Header], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Columns(_Strict):
    """The export's column names for each register field; a list means several
    columns: joined for a name and address lines, each read for aliases, phones and
    emails."""

    case_id: Header
    role: Header
    name: Annotated[Headers, Field(min_length=1)]
    aliases: Headers = Field(default_factory=list)
    address_lines: Headers = Field(default_factory=list)
    postcode: Header | None = None
    phones: Headers = Field(default_factory=list)
    emails: Headers = Field(default_factory=list)
    date_of_birth: Header | None = None
    valid_from: Header | None = None
    valid_to: Header | None = None

    def named(self) -> dict[str, list[str]]:
        """Register field -> its column names, for the fields the mapping uses."""
        out: dict[str, list[str]] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value:
                out[name] = [value] if isinstance(value, str) else list(value)
        return out


class Mapping(_Strict):
    """A whole mapping file."""

    columns: Columns
    roles: Annotated[dict[str, Role], Field(min_length=1)]
    separator: Annotated[str, Field(min_length=1)] = ";"
    delimiter: Literal[",", ";", "\t", "|"] | None = None  # default: found from the header
    encoding: str | None = None  # default: UTF-8 (with or without BOM), else Windows-1252

    @validates("roles")
    @classmethod
    def _one_meaning(cls, roles: dict[str, Role]) -> dict[str, Role]:
        seen: dict[str, Role] = {}
        for value, role in roles.items():
            if seen.setdefault(fold(value), role) != role:
                raise ValueError("one role value (ignoring case) is given two roles")
        return roles

    @validates("encoding")
    @classmethod
    def _known(cls, encoding: str | None) -> str | None:
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise ValueError("not an encoding Python knows") from None
        return encoding

    def role_of(self) -> dict[str, Role]:
        """The export's role value, folded -> the role."""
        return {fold(value): role for value, role in self.roles.items()}


def load_mapping(path: Path) -> Mapping:
    """A mapping file -> ``Mapping``; ``RegisterErrors`` naming its lines otherwise."""
    file = str(path)
    try:
        located = parse_located(path.read_text(encoding="utf-8-sig"), file)
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(file, None, f"cannot read mapping: {exc.__class__.__name__}") from exc
    except SourceError as exc:
        raise RegisterError(file, exc.line, exc.reason) from None
    try:
        return Mapping.model_validate(located.data)
    except ValidationError as exc:
        errors = [
            RegisterError(file, located.line_of(tuple(e["loc"])), _reason(e)) for e in exc.errors()
        ]
        raise RegisterErrors(errors) from None


def _reason(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error_reason(error)}"


def fold(text: str) -> str:
    """A column name or role value as compared: spacing, case and a BOM do not count."""
    return " ".join(text.replace("\ufeff", "").split()).casefold()
