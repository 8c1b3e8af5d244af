"""``gateway --help`` and every command's: complete, and no option where it does nothing."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from gateway.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("gateway",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_argument_of_every_command_has_help() -> None:
    """No bare positional or option in any --help page."""
    missing = [
        (" ".join(path), action.dest)
        for path, parser in _commands(build_parser())
        for action in parser._actions
        if not action.help
        and not isinstance(
            action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
        )
    ]
    assert [] == missing


def test_the_top_level_description_names_every_command() -> None:
    """Each command (and each subcommand of a group) is named in ``gateway --help``."""
    parser = build_parser()
    described = parser.description or ""
    names = {path[-1] for path, _ in _commands(parser) if len(path) in (2, 3)}
    assert set() == {name for name in names if name not in described}


def test_options_that_do_nothing_are_not_offered() -> None:
    """reject takes no --policies (its --upstream carries the notice to the sender);
    false-positive, which sends nothing, no upstream settings at all."""
    pages = {" ".join(path): parser for path, parser in _commands(build_parser())}
    assert {"--upstream", "--policies"} <= _options(pages["gateway quarantine release"])
    assert set() == {"--policies"} & _options(pages["gateway quarantine reject"])
    assert set() == {"--upstream", "--policies", "--config"} & _options(
        pages["gateway quarantine false-positive"]
    )
