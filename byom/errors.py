"""The errors the commands raise on purpose: a user-facing failure, printed as one line.

Owns: CommandError and what it means to the user (one line on stderr, exit code 2), and
RolloutFailed, a CommandError for a rollout SageMaker rolled back or could not finish (exit code
3, so a script can tell a refused command from a refused model). Kept apart from the command line
itself so that every module can raise them without importing the parser, and `python -m
byom.cli` raises the very classes `byom.cli.main` catches.
"""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""

    exit_code = 2


class RolloutFailed(CommandError):
    """An update SageMaker rolled back, or that failed: one line with the reason, exit code 3."""

    exit_code = 3
