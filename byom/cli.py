"""The `byom` command: one subcommand per module, each registering its own parser.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets `run`, a
function taking the parsed arguments and returning the exit code. Adding a command is one entry
in COMMANDS: its name and its module, in the folder of its job (measure, plan, ship, archive).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from byom.errors import CommandError

COMMANDS: dict[str, str] = {  # in the order --help lists them
    "loadtest": "byom.measure.loadtest",
    "plan": "byom.plan.plan",
    "simulate": "byom.plan.simulate",
    "unpack": "byom.archive.unpack",
    "package": "byom.ship.package",
    "push": "byom.ship.push",
    "deploy": "byom.ship.deploy",
    "scale": "byom.ship.scale",
    "invoke": "byom.ship.invoke",
    "status": "byom.ship.status",
    "destroy": "byom.ship.destroy",
    "cfn": "byom.ship.cfn",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byom", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(subparsers)
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
    sys.exit(main())
