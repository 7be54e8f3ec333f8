"""The `byom` command: one subcommand per module, each registering its own parser.

A subcommand module exposes `register(subparsers)`, which adds its parser and sets `run`, a
function taking the parsed arguments and returning the exit code. Adding a command is one entry
in COMMANDS: its name and its module, in the folder of its job (measure, plan, ship, archive).

`pip install .` installs the server's dependencies only; boto3, PyYAML and matplotlib come with the
`cli` extra. A command whose module needs one that is missing is still listed, and says in one
line which package it needs and how to install it; the others (`unpack`, `--help`) run as usual.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from byom.errors import CommandError

DESCRIPTION = "Load-test the byom server, plan its capacity and autoscaling, and ship it to SageMaker."
# The `cli` extra's modules, and the package each comes in.
OPTIONAL = {"boto3": "boto3", "botocore": "boto3", "yaml": "PyYAML", "matplotlib": "matplotlib"}
INSTALL_CLI = "pip install '.[cli]' (the cli extra)"

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
    parser = argparse.ArgumentParser(prog="byom", description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        try:
            importlib.import_module(module).register(subparsers)
        except ModuleNotFoundError as error:
            missing = (error.name or "").partition(".")[0]
            if missing not in OPTIONAL:
                raise
            register_unavailable(subparsers, name, OPTIONAL[missing])
    return parser


def register_unavailable(subparsers: Any, name: str, package: str) -> None:
    """`byom NAME` without the package its module needs: listed, and one line when run."""
    # No option prefix: whatever follows the command, --flags included, is taken as it is.
    parser = subparsers.add_parser(name, help=f"(needs {package}: {INSTALL_CLI})", prefix_chars="\0")
    parser.add_argument("arguments", nargs="*")

    def run(arguments: argparse.Namespace) -> int:
        raise CommandError(f"needs {package}, which is not installed: {INSTALL_CLI}")

    parser.set_defaults(run=run)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = arguments.run
    try:
        return run(arguments)
    except CommandError as error:
        print(f"byom {arguments.command}: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
