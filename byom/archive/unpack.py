"""`byom unpack ARCHIVE DIR`: extract a model.tar.gz safely, to inspect it or to serve it locally.

Owns: the command's arguments and messages; the extraction policy is `byom.archive.extract`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from byom.archive.extract import Limits, UnsafeArchive, extract
from byom.errors import CommandError

DEFAULTS = Limits()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "unpack",
        help="extract a model.tar.gz into a new folder, refusing links, '..', absolute paths, "
        "devices and oversized archives",
        description="Extract ARCHIVE (a tar, gzipped or not) into DIR, which must not exist or be "
        "empty. Nothing is written if any member is refused.",
    )
    parser.add_argument("archive", type=Path, metavar="ARCHIVE")
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULTS.max_bytes,
        help="limit on the files' total size (%(default)s)",
    )
    parser.add_argument(
        "--max-members",
        type=int,
        default=DEFAULTS.max_members,
        help="limit on the member count (%(default)s)",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    limits = Limits(max_bytes=arguments.max_bytes, max_members=arguments.max_members)
    try:
        extracted = extract(arguments.archive, arguments.directory, limits)
    except UnsafeArchive as error:
        raise CommandError(f"{arguments.archive}: refused: {error}") from None
    except OSError as error:
        raise CommandError(f"{arguments.archive}: {error.strerror or error}") from None
    print(
        f"unpacked {extracted.members} members ({extracted.bytes} bytes of files) into {arguments.directory}"
    )
    return 0
