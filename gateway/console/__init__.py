"""review (console): the web console for reviewers, auditors and admins."""

from gateway.console.app import Console, ConsoleSettings
from gateway.console.server import serve_console

__all__ = ["Console", "ConsoleSettings", "serve_console"]
