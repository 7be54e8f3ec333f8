"""Malicious model.tar.gz files against `byom.archive.extract.extract` and `byom unpack`: each is refused,
and nothing is written outside the target (nor, on refusal, inside it).

Archives are built on the fly with tarfile, gzip-compressed; the bombs are a few hundred KB on
disk and claim tens of MiB, so the limits in these tests are small.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from byom.archive.extract import Limits, UnsafeArchive, extract
from byom.cli import main
from tests.helpers.harness import REPO

SMALL = Limits(max_bytes=1024 * 1024, max_members=20)
MODEL = b'{"learner": {}}'

Member = tuple[tarfile.TarInfo, bytes | None]


def regular(name: str, data: bytes = MODEL, mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def folder(name: str) -> Member:
    return special(name, tarfile.DIRTYPE)


def write_archive(path: Path, members: list[Member], compress: bool = True) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buffer.getvalue(), 1) if compress else buffer.getvalue())
    return path


def zeros_member_archive(path: Path, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> Path:
    """A gzip bomb: one member header claiming `size` bytes, followed by that many zeros."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(info.tobuf(tarfile.USTAR_FORMAT))
        block = bytes(1024 * 1024)
        for _ in range(size // len(block)):
            out.write(block)
        out.write(bytes(1024))
    return path


def snapshot(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A working folder holding the archive and the target; a sibling `outside/` must stay empty."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def refused(place: Path, members: list[Member], says: str, limits: Limits = SMALL) -> None:
    archive = write_archive(place / "model.tar.gz", members)
    before = snapshot(place.parent)
    with pytest.raises(UnsafeArchive, match=says):
        extract(archive, place / "model", limits)
    assert snapshot(place.parent) == before  # no target, no staging folder, nothing outside
    assert not any((place.parent / "outside").iterdir())


ATTACKS: dict[str, Callable[[Path], tuple[list[Member], str]]] = {
    "absolute-path": lambda p: ([regular(str(p.parent / "outside" / "evil"))], "absolute path"),
    "dot-dot": lambda p: ([regular("../outside/evil")], r"climbs out with '\.\.'"),
    "dot-dot-inside-a-name": lambda p: ([regular("a/../../outside/evil")], r"climbs out"),
    "dot-dot-after-a-good-member": lambda p: ([regular("model.json"), regular("../evil")], "climbs out"),
    "symlink-outside": lambda p: ([special("link", tarfile.SYMTYPE, str(p.parent / "outside"))], "is a link"),
    "symlink-inside": lambda p: ([regular("model.json"), special("alias", tarfile.SYMTYPE, "model.json")], "is a link"),
    "symlink-then-write-through-it": lambda p: (
        [special("d", tarfile.SYMTYPE, "../outside"), regular("d/evil")], "is a link"),
    "hardlink": lambda p: ([regular("model.json"), special("copy", tarfile.LNKTYPE, "model.json")], "is a link"),
    "hardlink-outside": lambda p: ([special("passwd", tarfile.LNKTYPE, "/etc/passwd")], "is a link"),
    "char-device": lambda p: ([special("null", tarfile.CHRTYPE)], "device, FIFO"),
    "block-device": lambda p: ([special("sda", tarfile.BLKTYPE)], "device, FIFO"),
    "fifo": lambda p: ([special("pipe", tarfile.FIFOTYPE)], "device, FIFO"),
    "too-many-members": lambda p: ([regular(f"f{i}") for i in range(SMALL.max_members + 1)], "more than 20 members"),
    "files-over-the-size-limit": lambda p: (
        [regular("a", bytes(600 * 1024)), regular("b", bytes(600 * 1024))], "past the limit"),
}  # fmt: skip


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_malicious_archive_is_refused_and_writes_nothing(place: Path, attack: str) -> None:
    members, says = ATTACKS[attack](place)
    refused(place, members, says)


def test_tarfiles_data_filter_alone_would_strip_an_absolute_path_instead_of_refusing(place: Path) -> None:
    """Why the checks come before the data filter: it extracts `/x/evil` as `x/evil`, silently."""
    archive = write_archive(place / "model.tar.gz", [regular("/x/evil")])
    with tarfile.open(archive) as tar:
        tar.extractall(place / "filtered", filter="data")
    assert (place / "filtered" / "x" / "evil").exists()


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [("model.bin", tarfile.REGTYPE, "past the limit"), ("pax", tarfile.XHDTYPE, "unpacks to more than")],
    ids=["one-huge-member", "huge-pax-header"],
)
def test_a_gzip_bomb_is_stopped_early(place: Path, name: str, kind: bytes, says: str) -> None:
    """A member's claimed size is checked before its data; a huge pax header, which tarfile would
    read whole into memory, is stopped by the limit on the decompressed stream."""
    size = 64 * 1024 * 1024
    archive = zeros_member_archive(place / "bomb.tar.gz", name, size, kind)
    assert archive.stat().st_size < size // 100
    started = time.monotonic()
    with pytest.raises(UnsafeArchive, match=says):
        extract(archive, place / "model", SMALL)
    assert time.monotonic() - started < 5  # generous: a full read of 64 MiB is not the point
    assert snapshot(place) == {"bomb.tar.gz"}


def test_a_plain_archive_extracts_exactly(place: Path) -> None:
    members = [
        folder("./"),
        regular("./xgboost-model.json", MODEL),
        regular("./manifest.json", b"{}"),
        folder("./code"),
        regular("./code/notes.txt", b"hi", mode=0o4755),
    ]
    archive = write_archive(place / "model.tar.gz", members)
    extracted = extract(archive, place / "model", SMALL)
    assert snapshot(place) == {
        "model.tar.gz", "model", "model/xgboost-model.json", "model/manifest.json", "model/code",
        "model/code/notes.txt",
    }  # fmt: skip
    assert (place / "model" / "xgboost-model.json").read_bytes() == MODEL
    assert not os.stat(place / "model" / "code" / "notes.txt").st_mode & stat.S_ISUID  # data filter
    assert (extracted.members, extracted.bytes) == (5, len(MODEL) + 4)


def test_an_uncompressed_tar_is_accepted(place: Path) -> None:
    archive = write_archive(place / "model.tar", [regular("model.json")], compress=False)
    extract(archive, place / "model", SMALL)
    assert (place / "model" / "model.json").read_bytes() == MODEL


def test_an_empty_target_folder_is_used_and_a_full_one_refused(place: Path) -> None:
    archive = write_archive(place / "model.tar.gz", [regular("model.json")])
    (place / "model").mkdir()
    extract(archive, place / "model", SMALL)
    with pytest.raises(UnsafeArchive, match="not empty"):
        extract(archive, place / "model", SMALL)


@pytest.mark.parametrize(
    "content", [b"not an archive at all", gzip.compress(b"not a tar inside"), b"\x1f\x8b\x08truncated"]
)
def test_an_unreadable_archive_is_refused_cleanly(place: Path, content: bytes) -> None:
    (place / "model.tar.gz").write_bytes(content)
    with pytest.raises(UnsafeArchive, match="not a readable tar archive"):
        extract(place / "model.tar.gz", place / "model", SMALL)
    assert snapshot(place) == {"model.tar.gz"}


def test_byom_unpack_extracts_and_reports(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write_archive(place / "model.tar.gz", [regular("model.json")])
    assert main(["unpack", str(archive), str(place / "model")]) == 0
    assert f"unpacked 1 members ({len(MODEL)} bytes of files)" in capsys.readouterr().out


def test_byom_unpack_refuses_with_one_line_and_exit_2(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_archive(place / "model.tar.gz", [regular("../evil")])
    assert main(["unpack", str(archive), str(place / "model")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("byom unpack: ") and "climbs out" in error and error.count("\n") == 1
    assert main(["unpack", str(place / "absent.tar.gz"), str(place / "model")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_byom_unpack_limits_are_options(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write_archive(place / "model.tar.gz", [regular("model.json")])
    assert main(["unpack", "--max-bytes", "4", str(archive), str(place / "model")]) == 2
    assert "past the limit of 4 bytes" in capsys.readouterr().err


def test_python_m_byom_cli_unpack_refuses_with_one_line(place: Path) -> None:
    """As a user runs it: a separate process, the module run as __main__."""
    archive = write_archive(place / "model.tar.gz", [regular("/etc/evil")])
    command = [sys.executable, "-m", "byom.cli", "unpack", str(archive), str(place / "model")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("byom unpack: ") and result.stderr.count("\n") == 1
    assert "absolute path" in result.stderr and not (place / "model").exists()
