"""Safe extraction of a model.tar.gz: refuse anything that could write outside the target, replace
what is not a plain file or folder, or exhaust the disk or memory.

Owns: the extraction policy. Refused: absolute names, `..` in a name, symbolic and hard links,
devices, FIFOs and any other special member, more than `max_members` members, more than
`max_bytes` of file data, and a decompressed stream longer than those allow (headers included),
which stops a gzip bomb after at most that many bytes whatever its members claim. Extraction
streams the archive once, stages everything in a fresh folder beside the target, and renames it
into place only when every member passed: on any refusal nothing is left behind.

Python's `tarfile` data filter (`filter="data"`) does much of this, and runs on every member as a
second line; but it strips a leading `/` instead of refusing it, allows links that stay inside
the target, and knows no size or count limit, so those checks come first, here. The image never
uses this (SageMaker extracts model.tar.gz itself); `byom unpack` does.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, Protocol, cast

GIB = 1024**3
GZIP_MAGIC = b"\x1f\x8b"
HEADER_ALLOWANCE_BYTES = 8192  # per member: its header blocks, long-name records and padding
END_ALLOWANCE_BYTES = 20480  # the end-of-archive blocks, padded to a record


class UnsafeArchive(Exception):
    """The archive was refused; nothing was written to the target."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 * GIB
    max_members: int = 10_000

    @property
    def stream_bytes(self) -> int:
        return self.max_bytes + self.max_members * HEADER_ALLOWANCE_BYTES + END_ALLOWANCE_BYTES


@dataclass(frozen=True)
class Extracted:
    members: int
    bytes: int


def extract(archive: Path, target: Path, limits: Limits = Limits()) -> Extracted:
    """Extract `archive` (a tar, gzipped or not) into `target`, which must be absent or empty."""
    _check_target(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.unpacking-", dir=target.parent))
    try:
        extracted = _extract_into(archive, staging, limits)
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return extracted


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UnsafeArchive(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise UnsafeArchive(f"{target} is not empty; extract into a new folder")
    if not target.parent.is_dir():
        raise UnsafeArchive(f"{target.parent} does not exist")


def _extract_into(archive: Path, staging: Path, limits: Limits) -> Extracted:
    members = total = 0
    with archive.open("rb") as raw, _decompressed(raw, limits.stream_bytes) as stream:
        try:
            # stream mode ("r|") reads the members once, in order, and only ever calls read()
            with tarfile.open(fileobj=cast("IO[bytes]", stream), mode="r|") as tar:
                for member in tar:
                    members += 1
                    total += member.size if member.isfile() else 0
                    _check_member(member, members, total, limits)
                    tar.extract(member, staging, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise UnsafeArchive(f"{archive.name} is not a readable tar archive: {error}") from None
    return Extracted(members, total)


def _check_member(member: tarfile.TarInfo, count: int, total: int, limits: Limits) -> None:
    name = member.name
    if count > limits.max_members:
        raise UnsafeArchive(f"more than {limits.max_members} members")
    if total > limits.max_bytes:
        raise UnsafeArchive(f"{name!r} takes the files past the limit of {limits.max_bytes} bytes")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive(f"{name!r} is an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeArchive(f"{name!r} climbs out with '..'")
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"{name!r} is a link (to {member.linkname!r}); a model needs none")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"{name!r} is a device, FIFO or other special file")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _LimitedReader:
    """A read-only stream that fails once more than `limit` bytes have been asked of it."""

    def __init__(self, stream: _Readable, limit: int) -> None:
        self.stream, self.remaining = stream, limit

    def read(self, size: int = -1) -> bytes:
        wanted = self.remaining + 1 if size < 0 else min(size, self.remaining + 1)
        data = self.stream.read(wanted)
        self.remaining -= len(data)
        if self.remaining < 0:
            raise UnsafeArchive("the archive unpacks to more than its size and member limits allow")
        return data

    def __enter__(self) -> _LimitedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _decompressed(raw: BinaryIO, limit: int) -> _LimitedReader:
    magic = raw.read(2)
    raw.seek(0)
    stream: _Readable = gzip.GzipFile(fileobj=raw, mode="rb") if magic == GZIP_MAGIC else raw
    return _LimitedReader(stream, limit)
