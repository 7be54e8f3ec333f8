"""One process's loaded models, and its part in the protocol that keeps every worker's the same.

Owns: loading a model as the single-model server would (the same flavours, manifest checks and
refusals, an inference script of its own), and the three moves of the protocol (`registry` has
the files):
- load (`POST /models`, in the worker that got it): claim the name (409 if taken), check the
  memory (507), load and prove it here, publish its entry, nudge every other member and wait until
  each has answered for this load. A member that could not load it fails the whole load: it is
  unloaded everywhere and the answer is that member's (507, 400).
- unload (`DELETE`): withdraw the entry, drop it here, nudge the members holding it and wait until
  none does, then free the name.
- reconcile (on each nudge, at start, and when an invoke names a model not held here): drop what
  has no entry, load what has one.
A member records that it holds a model before it checks the entry once more, and an unload lists
the holders only after withdrawing it, so a load racing an unload is either seen by it or sees it.
Knows nothing of HTTP, nor of metrics beyond telling `ModelEvents` of each load and count.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from container.errors import (
    Conflict,
    ContainerError,
    InsufficientMemory,
    NotFound,
    RefusedModel,
    StartupError,
)
from container.multimodel import memory
from container.multimodel.location import check_name, check_url
from container.multimodel.registry import Answer, Entry, Registry, member_alive
from container.settings import Settings

log = logging.getLogger("byom")
Builder = Callable[[Settings, str], Any]  # a model directory's settings and name -> its request path
POLL_SECONDS = 0.005
SHARE_OF_TIMEOUT = 0.8  # of the request timeout, the longest wait for the other members


class ModelEvents(Protocol):
    """Who hears of this process's loads (container.metrics.instruments.Instruments)."""

    def loaded(self, name: str, seconds: float) -> None: ...

    def held(self, count: int) -> None: ...


class NoEvents:
    def loaded(self, name: str, seconds: float) -> None:
        pass

    def held(self, count: int) -> None:
        pass


class LoadedModels:
    def __init__(
        self, settings: Settings, registry: Registry, build: Builder, events: ModelEvents | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.build = build
        self.events: ModelEvents = events or NoEvents()
        self.member = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.held: dict[str, tuple[str, Any]] = {}  # name -> (load id, request path)
        self.loading: set[str] = set()  # names this process's own requests are loading
        self.failed: set[str] = set()  # load ids this process could not load: not tried again
        self.lock = threading.Lock()  # held, loading, and each record-then-check
        self.reconciling = threading.Lock()
        # One load at a time in a process: libraries' first imports are not safe from two threads
        # (skops.io's, see estimator.import_skops_io), and loads in turn bound the memory they take.
        self.building = threading.Lock()

    def start(self) -> None:
        """Join the registry, load what is loaded already, then listen for nudges."""
        listener = self.registry.join(self.member)
        self.reconcile()
        threading.Thread(target=self._listen, args=(listener,), name="byom-models", daemon=True).start()

    def get(self, name: str) -> Any:
        """The request path serving `name`; 404 when it is not loaded."""
        held = self.held.get(check_name(name))
        if held is None and self.registry.entry(name) is not None:
            self.reconcile()  # loaded a moment ago, before this member heard of it
            held = self.held.get(name)
        if held is None:
            raise NotFound(f"model {name} is not loaded; load it with POST /models")
        return held[1]

    def load(self, name: object, url: object) -> Entry:
        name = check_name(name)
        path = check_url(url, self.settings.model_root)
        if not self.registry.claim(name):
            raise Conflict(f"model {name} is loaded already; DELETE /models/{name} first to load it again")
        entry = Entry(name, str(url), str(path), uuid.uuid4().hex)
        try:
            self._reserve(entry)
            with self.lock:
                self.loading.add(name)
            try:
                self._hold(entry, self._build(entry))
                self.registry.publish(entry)
            finally:
                with self.lock:
                    self.loading.discard(name)
            others = [member for member in self.registry.members() if member != self.member]
            refusals = self._await_loads(entry, self.registry.nudge(others))
        except BaseException:
            self._unload_everywhere(entry)
            raise
        if refusals:
            self._unload_everywhere(entry)
            raise refusals[0]
        log.info("model %s loaded from %s in every worker", name, path)
        return entry

    def unload(self, name: str) -> Entry:
        entry = self.registry.withdraw(name, self.member)
        if entry is None:
            raise NotFound(f"model {name} is not loaded")
        self._unload_everywhere(entry)
        log.info("model %s unloaded from every worker", name)
        return entry

    def reconcile(self) -> None:
        """Make what this process holds what the registry lists."""
        with self.reconciling:
            entries = {entry.name: entry for entry in self.registry.entries()}
            with self.lock:
                stale = [
                    name
                    for name, (load_id, _) in self.held.items()
                    if name not in self.loading and getattr(entries.get(name), "load_id", None) != load_id
                ]
            for name in stale:
                self._drop(name)
            if stale:
                memory.give_back()
            for entry in entries.values():
                known = entry.name in self.held or entry.name in self.loading or entry.load_id in self.failed
                if not known:
                    self._load_listed(entry)

    def _load_listed(self, entry: Entry) -> None:
        try:
            request_path = self._build(entry)
        except ContainerError as error:
            self.failed.add(entry.load_id)
            self.registry.record(entry.name, self.member, Answer(entry.load_id, error.status, error.message))
            return
        self._hold(entry, request_path)
        current = self.registry.entry(entry.name)
        if current is None or current.load_id != entry.load_id:  # unloaded meanwhile
            self._drop(entry.name)

    def _hold(self, entry: Entry, request_path: Any) -> None:
        with self.lock:
            self.held[entry.name] = (entry.load_id, request_path)
            self.registry.record(entry.name, self.member, Answer(entry.load_id, 200))
            self.events.held(len(self.held))

    def _drop(self, name: str) -> None:
        with self.lock:
            self.held.pop(name, None)
            self.registry.forget(name, self.member)
            self.events.held(len(self.held))

    def _build(self, entry: Entry) -> Any:
        """The request path of the model in entry.path, loaded and proven; its refusal as 400,
        running out of memory as 507."""
        settings = dataclasses.replace(self.settings, model_dir=Path(entry.path), multi_model=False)
        try:
            with self.building:
                started = time.monotonic()
                built = self.build(settings, entry.name)
                self.events.loaded(entry.name, time.monotonic() - started)
                return built
        except StartupError as error:
            raise RefusedModel(f"model {entry.name}: {error.message}") from None
        except MemoryError:
            raise InsufficientMemory(f"model {entry.name}: out of memory while loading it") from None
        except Exception as error:
            log.exception("model %s failed to load", entry.name)
            raise RefusedModel(f"model {entry.name} failed to load: {type(error).__name__}") from None

    def _reserve(self, entry: Entry) -> None:
        estimate = memory.estimate_bytes(Path(entry.path))
        pending = self.registry.pending_bytes()
        memory.check_fits(
            entry.name, estimate, self.settings.workers, self.settings.memory_reserve_mb, pending
        )
        self.registry.reserve(entry.name, estimate * self.settings.workers)

    def _await_loads(self, entry: Entry, members: list[str]) -> list[ContainerError]:
        """Each member's refusal of this load, once every one has answered (or is gone)."""
        answers = self._wait(entry.name, lambda found: {
            member for member in members if member_alive(member)
            and getattr(found.get(member), "load_id", None) != entry.load_id
        })  # fmt: skip
        refusals: list[ContainerError] = []
        for member in members:
            answer = answers.get(member)
            if answer is not None and answer.load_id == entry.load_id and answer.status != 200:
                refusal = InsufficientMemory if answer.status == 507 else RefusedModel
                refusals.append(refusal(f"a worker could not load it: {answer.message}"))
            elif answer is None and member_alive(member):
                refusals.append(ContainerError(f"a worker did not load model {entry.name} in time"))
        return refusals

    def _unload_everywhere(self, entry: Entry) -> None:
        """Withdrawn (or never published): drop it here, wait until no member holds it, free the name."""
        self.registry.withdraw(entry.name, self.member)
        self._drop(entry.name)
        holders = [
            member
            for member, answer in self.registry.answers(entry.name).items()
            if answer.status == 200 and member != self.member
        ]
        self.registry.nudge(holders)
        answers = self._wait(entry.name, lambda found: {
            member for member in holders if member in found and member_alive(member)
        })  # fmt: skip
        if any(member in answers and member_alive(member) for member in holders):
            log.warning("model %s: a worker still held it after %s s", entry.name, self._wait_seconds())
        self.registry.clear(entry.name)
        self.registry.release(entry.name)
        memory.give_back()

    def _wait(self, name: str, outstanding: Callable[[dict[str, Answer]], set[str]]) -> dict[str, Answer]:
        deadline = time.monotonic() + self._wait_seconds()
        while True:
            answers = self.registry.answers(name)
            if not outstanding(answers) or time.monotonic() > deadline:
                return answers
            time.sleep(POLL_SECONDS)

    def _wait_seconds(self) -> float:
        return SHARE_OF_TIMEOUT * self.settings.timeout_seconds

    def _listen(self, listener: Any) -> None:
        while True:
            listener.recv(64)
            try:
                self.reconcile()
            except Exception:
                log.exception("multi-model: reading the registry failed")
