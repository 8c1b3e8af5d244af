"""The gateway's exception tree; everything derives from ``GatewayError``.

    GatewayError
    ├── ConfigError            bad settings or command-line usage
    ├── RegisterError          a register file that cannot be loaded (file, line, case, field)
    │   └── RegisterErrors     every error found in one reading of a register file
    ├── PolicyError            a policy file that cannot be loaded (file, line, reason)
    ├── ScanError              the core could not scan a message (held as unscannable)
    │   └── WorkerLost         a scan process died, or did not start
    └── ReviewError            a review action that cannot be done (CLI and console alike)
        ├── AccessDenied       the user's roles or relation to the message forbid it
        ├── NotFound           no such message or user
        ├── Conflict           the message is no longer in a state that allows it
        └── LoginFailed        wrong name, password or code; or the account is locked

Foreign exceptions are mapped at the boundary with ``raise Ours(...) from exc``.
Messages never include a protected value: only files, lines, case ids and field names.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """Settings or command-line usage that cannot work."""


class _LocatedError(GatewayError):
    """An error that points at a place in a file: ``file:line: reason``, or
    ``file:line:column: reason`` where the column is known (a CSV cell)."""

    def __init__(
        self, file: str, line: int | None, reason: str, *, column: int | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        where += f":{column}" if line is not None and column is not None else ""
        super().__init__(f"{where}: {reason}")


class RegisterError(_LocatedError):
    """A register file that cannot be loaded; names the file, line, case and field."""


class RegisterErrors(RegisterError):
    """Every error found in one reading of a register file (or its CSV mapping), in
    file order; ``str()`` lists them one per line.  ``file``, ``line`` and ``column``
    are the first error's, so a caller that wants one place still gets one."""

    def __init__(self, errors: list[RegisterError]) -> None:
        if not errors:
            raise ValueError("RegisterErrors needs at least one error")
        self.errors = errors
        first = errors[0]
        self.file, self.line, self.column = first.file, first.line, first.column
        self.reason = "\n".join(str(error) for error in errors)
        GatewayError.__init__(self, self.reason)


class PolicyError(_LocatedError):
    """A policy file that cannot be loaded; names the file, line and reason."""


class ScanError(GatewayError):
    """The core could not scan a message; the message is held, never delivered."""


class WorkerLost(ScanError):
    """A scan process died, or its socket broke, before it answered (or it never
    started); the pool it belonged to is replaced."""


class ReviewError(GatewayError):
    """A review action that cannot be done; the text is safe to show the reviewer."""


class AccessDenied(ReviewError):
    """The user's roles, or their relation to the message, forbid the action."""


class NotFound(ReviewError):
    """No such message or user."""


class Conflict(ReviewError):
    """The message is no longer in a state that allows the action (someone was first)."""


class LoginFailed(ReviewError):
    """Wrong name, password or second factor, or the account is locked or disabled."""
