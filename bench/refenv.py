"""The reference stack's virtualenv, bench/.venv-reference.

Owns: creating it with the project's Python, installing bench/reference/requirements.txt, then
gevent (the sample's worker class) when PyPI provides it, and saying which gunicorn worker class
the reference will use: "gevent", or "sync" when gevent would not install or gunicorn's gevent
worker would not import. A stamp file named after the requirements' checksum makes later runs
reuse the venv until the requirements change.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-reference"
REQUIREMENTS = BENCH / "reference" / "requirements.txt"
GEVENT_REQUIREMENTS = BENCH / "reference" / "requirements-gevent.txt"


@dataclass(frozen=True)
class ReferenceEnv:
    python: Path
    gunicorn: Path
    worker_class: str  # "gevent" or "sync"
    note: str


def ensure_reference_env() -> ReferenceEnv:
    checksum = hashlib.sha256(REQUIREMENTS.read_bytes() + GEVENT_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{checksum}"
    python = VENV / "bin" / "python"
    if not stamp.exists():
        _install(python, stamp)
    worker_class = stamp.read_text().strip()
    note = (
        "gunicorn gevent workers, as in the sample"
        if worker_class == "gevent"
        else "gevent did not install from PyPI: gunicorn sync workers instead of the sample's gevent"
    )
    return ReferenceEnv(python, VENV / "bin" / "gunicorn", worker_class, note)


def _install(python: Path, stamp: Path) -> None:
    print(f"bench: creating {VENV} for the reference stack", file=sys.stderr, flush=True)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    base = subprocess.run([*pip, "-r", str(REQUIREMENTS)], capture_output=True, text=True, timeout=900)
    if base.returncode != 0:
        raise RuntimeError(f"cannot install {REQUIREMENTS}: {base.stderr.strip()[-1000:]}")
    installed = subprocess.run([*pip, "-r", str(GEVENT_REQUIREMENTS)], capture_output=True, timeout=900)
    imports = subprocess.run([str(python), "-c", "import gunicorn.workers.ggevent"], check=False, timeout=120)
    stamp.write_text("gevent\n" if installed.returncode == 0 and imports.returncode == 0 else "sync\n")
