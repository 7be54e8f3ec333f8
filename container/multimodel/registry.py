"""The directory the workers of one server share to agree on which models are loaded.

Owns its layout and every write to it, each one atomic (an exclusive create, a rename):

    claims/NAME          the name is taken: by a load in progress, a loaded model, an unload
                         (exclusive create: the second `POST /models` of a name is 409); holds
                         the load's memory estimate while it runs
    entries/NAME.json    the model is loaded: {"name", "url", "path", "load_id"}
    holders/NAME/MEMBER  one process's answer for that load: {"load_id", "status", "message"}
    members/MEMBER.sock  one process's datagram socket; any datagram means "read the entries again"

A member is a process taking part (a gunicorn worker; or an app built in a test), named
`PID-RANDOM`. The directory lives in memory (/dev/shm, else the temp dir), is made by the
gunicorn master before it forks (`create`) and found by each worker from its parent's pid
(`of_server`). Knows nothing of models or HTTP.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

SHARED_MEMORY = Path("/dev/shm")  # noqa: S108
SUBDIRECTORIES = ("claims", "entries", "holders", "members")


@dataclass(frozen=True)
class Entry:
    name: str
    url: str  # as the load gave it
    path: str  # the url resolved: where every worker loads it from
    load_id: str  # tells a load from an earlier one of the same name

    def described(self) -> dict[str, str]:
        """As `GET /models` shows it."""
        return {"modelName": self.name, "modelUrl": self.url}


@dataclass(frozen=True)
class Answer:
    """One member's answer for one load: 200 when it holds the model, else why it does not."""

    load_id: str
    status: int
    message: str = ""


Record = TypeVar("Record", Entry, Answer)


def server_directory(master_pid: int) -> Path:
    base = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    return base / f"byom-models-{master_pid}"


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(cls, root: Path) -> Registry:
        """A fresh, empty registry at root (what an earlier server of the same pid left is removed)."""
        shutil.rmtree(root, ignore_errors=True)
        for name in SUBDIRECTORIES:
            (root / name).mkdir(parents=True, mode=0o700)
        return cls(root)

    @classmethod
    def of_server(cls, master_pid: int) -> Registry:
        return cls(server_directory(master_pid))

    @classmethod
    def private(cls) -> Registry:
        """For an app with no gunicorn master (in-process use): a registry of its own."""
        base = SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else None
        registry = cls.create(Path(tempfile.mkdtemp(prefix="byom-models-", dir=base)))
        atexit.register(registry.remove)
        return registry

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # claims
    def claim(self, name: str) -> bool:
        try:
            os.close(os.open(self._claim(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        return True

    def reserve(self, name: str, estimate: int) -> None:
        self._claim(name).write_text(str(estimate))

    def pending_bytes(self) -> int:
        """The estimates of loads claimed and not yet published."""
        total = 0
        for claim in (self.root / "claims").iterdir():
            if not self._entry(claim.name).exists():
                with contextlib.suppress(OSError, ValueError):
                    total += int(claim.read_text() or 0)
        return total

    def release(self, name: str) -> None:
        self._claim(name).unlink(missing_ok=True)

    # entries
    def publish(self, entry: Entry) -> None:
        temporary = self.root / "entries" / f".{entry.name}.{entry.load_id}"
        temporary.write_text(json.dumps(asdict(entry)))
        temporary.rename(self._entry(entry.name))

    def withdraw(self, name: str, member: str) -> Entry | None:
        """The entry, taken out; None when there is none (or another unload took it first)."""
        taken = self.root / "entries" / f".{name}.withdrawn-by-{member}"
        try:
            self._entry(name).rename(taken)
        except FileNotFoundError:
            return None
        entry = _read(taken, Entry)
        taken.unlink(missing_ok=True)
        return entry

    def entry(self, name: str) -> Entry | None:
        return _read(self._entry(name), Entry)

    def entries(self) -> list[Entry]:
        names = sorted(
            path.stem for path in (self.root / "entries").glob("*.json") if not path.name.startswith(".")
        )
        return [entry for name in names if (entry := self.entry(name)) is not None]

    # holders
    def record(self, name: str, member: str, answer: Answer) -> None:
        folder = self.root / "holders" / name
        folder.mkdir(exist_ok=True)
        temporary = folder / f".{member}"
        temporary.write_text(json.dumps(asdict(answer)))
        temporary.rename(folder / member)

    def forget(self, name: str, member: str) -> None:
        (self.root / "holders" / name / member).unlink(missing_ok=True)

    def answers(self, name: str) -> dict[str, Answer]:
        folder = self.root / "holders" / name
        if not folder.is_dir():
            return {}
        found = {path.name: _read(path, Answer) for path in folder.iterdir() if not path.name.startswith(".")}
        return {member: answer for member, answer in found.items() if answer is not None}

    def clear(self, name: str) -> None:
        shutil.rmtree(self.root / "holders" / name, ignore_errors=True)

    # members
    def join(self, member: str) -> socket.socket:
        """This member's socket, bound: datagrams sent to it before it reads are kept."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(self._socket(member)))
        return listener

    def leave(self, member: str) -> None:
        self._socket(member).unlink(missing_ok=True)
        for folder in (self.root / "holders").iterdir():
            (folder / member).unlink(missing_ok=True)

    def members(self) -> list[str]:
        return sorted(path.stem for path in (self.root / "members").glob("*.sock"))

    def nudge(self, members: list[str]) -> list[str]:
        """Ask each member to read the entries again; those that cannot hear it (their process is
        gone) leave. Returns the members reached."""
        reached = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for member in members:
                try:
                    sender.sendto(b"s", str(self._socket(member)))
                except BlockingIOError:
                    pass  # its queue is full of nudges already: it will read the entries
                except (ConnectionRefusedError, FileNotFoundError):
                    self.leave(member)
                    continue
                reached.append(member)
        return reached

    def _claim(self, name: str) -> Path:
        return self.root / "claims" / name

    def _entry(self, name: str) -> Path:
        return self.root / "entries" / f"{name}.json"

    def _socket(self, member: str) -> Path:
        return self.root / "members" / f"{member}.sock"


def member_alive(member: str) -> bool:
    """Whether the process of `PID-RANDOM` still exists."""
    try:
        os.kill(int(member.split("-", 1)[0]), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path, kind: type[Record]) -> Record | None:
    try:
        return kind(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
