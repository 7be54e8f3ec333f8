"""The keys of an artillery script, spelt as artillery documents them, and a reader that holds
a script to them.

Owns, per section of a script, the keys byom reads and the keys artillery documents that byom
leaves alone (with what to use instead, where there is something), and `KeyReader`, which reads a
mapping's keys by those spellings and keeps one warning per key it did not take as written. It
knows nothing of what the values mean (byom.measure.loadspec and byom.measure.ensure read them).

Artillery's keys are case-sensitive: artillery itself ignores `Phases` or `Ensure`. A key that
differs from artillery's only in case, as scripts pasted from blog posts have them, is read under
artillery's spelling with a warning naming its path (`config.Phases -> phases`): refusing would
stop a script whose intent is plain, and ignoring it is how a test ends up sending nothing. A
documented key byom does not use, and a key nobody documents, are each named in a warning too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from byom.errors import CommandError
from byom.measure import ensure


@dataclass(frozen=True)
class Section:
    """The keys byom reads in one kind of mapping, and the documented ones it leaves alone."""

    read: frozenset[str]
    unused: Mapping[str, str] = field(default_factory=dict)  # key -> a hint, or ""


def _unused(names: str, hint: str = "") -> dict[str, str]:
    return dict.fromkeys(names.split(), hint)


def _section(read: str, *unused: dict[str, str]) -> Section:
    return Section(frozenset(read.split()), {k: v for part in unused for k, v in part.items()})


# `name` labels a phase, scenario or request: read, as there is nothing to use in it.
TOP = _section("config scenarios", _unused("before after"))
CONFIG = _section(
    "target phases ensure plugins",
    _unused("environments payload variables processor tls defaults engines includeFiles socketio ws"),
    _unused("statsInterval"),
    _unused("http", " (give --timeout for http.timeout)"),
)
PHASE = _section(
    "duration arrivalRate rampTo arrivalCount pause name", _unused("maxVusers", " (see --max-in-flight)")
)
SCENARIO = _section(
    "flow name", _unused("weight engine variables beforeScenario afterScenario beforeRequest afterResponse")
)
STEP = _section(
    "post",
    _unused("get put patch delete head options", " (it sends post steps only)"),
    _unused("think loop log function parallel emit"),
)
POST = _section(
    "url headers body json name",
    _unused("capture expect match qs form formData cookie auth gzip"),
    _unused("beforeRequest afterResponse ifTrue followRedirect"),
)
ENSURE = Section(ensure.KEYS)
CONDITION = Section(ensure.CONDITION_KEYS)


def plugins(names: Iterable[object]) -> Section:
    """config.plugins: byom reads ensure's checks, and no other plugin."""
    return Section(frozenset({"ensure"}), {str(n): "" for n in names if str(n).lower() != "ensure"})


@dataclass
class KeyReader:
    """Reads a script's mappings by artillery's spelling of their keys, keeping one warning per
    key it read under another spelling or did not read."""

    warnings: list[str] = field(default_factory=list)

    def mapping(self, raw: object, path: str, section: Section) -> dict[str, Any]:
        """`raw`'s keys that byom reads, spelt as artillery does."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise CommandError(f"{path or 'the artillery script'}: expected a mapping, not {raw!r}")
        spelling = {key.lower(): key for key in (*section.read, *section.unused)}
        read: dict[str, Any] = {}
        for key, value in raw.items():
            where = f"{path}.{key}" if path else str(key)
            canonical = spelling.get(str(key).lower())
            if canonical is not None and canonical in read:
                raise CommandError(f"{where}: {canonical} is given twice, spelt differently")
            if self._note(where, str(key), canonical, section):
                read[str(canonical)] = value
        return read

    def mappings(self, raw: object, path: str, section: Section) -> list[dict[str, Any]]:
        """A list of mappings, each read as `mapping` reads one."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise CommandError(f"{path}: expected a list, not {raw!r}")
        return [self.mapping(item, f"{path}[{i}]", section) for i, item in enumerate(raw)]

    def _note(self, where: str, key: str, canonical: str | None, section: Section) -> bool:
        """Whether to read the key; a warning when it is not read as written."""
        if canonical is None:
            self.warnings.append(f"{where}: unknown key, ignored")
            return False
        respelt = f"{where} -> {canonical}" if canonical != key else where
        if canonical in section.unused:
            self.warnings.append(f"{respelt}: not used by byom loadtest{section.unused[canonical]}")
            return False
        if canonical != key:
            self.warnings.append(
                f"{respelt}: read as artillery spells it (artillery itself would ignore {key})"
            )
        return True
