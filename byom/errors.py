"""The one error the commands raise on purpose: a user-facing failure, printed as one line.

Owns: CommandError and what it means to the user (one line on stderr, exit code 2). Kept apart
from the command line itself so that every module can raise it without importing the parser, and
`python -m byom.cli` raises the very class `byom.cli.main` catches.
"""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 2."""
