"""The `byom` command: one subcommand per module, each registering its own parser.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets `run`, a
function taking the parsed arguments and returning the exit code. Adding a command is adding its
module name to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

COMMANDS: tuple[str, ...] = (
    "loadtest",
    "plan",
    "simulate",
    "unpack",
    "package",
    "push",
    "deploy",
    "scale",
    "invoke",
    "status",
    "destroy",
    "cfn",
)


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byom", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"byom.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = arguments.run
    try:
        return run(arguments)
    except CommandError as error:
        print(f"byom {arguments.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Under `python -m byom.cli` this file runs as __main__, a second copy of the module: enter
    # through byom.cli, whose CommandError the commands raise, or their errors escape as tracebacks.
    from byom.cli import main as byom_main

    sys.exit(byom_main())
