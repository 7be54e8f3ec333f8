"""Run one fuzz target under atheris: `python -m tests.fuzz.run TARGET [libFuzzer flags] CORPUS_DIR`.
scripts/fuzz calls it with the sanitized build's environment (see there)."""

from __future__ import annotations

import sys

import atheris

from tests.helpers.fuzz_targets import TARGETS

atheris.instrument_all()  # the Python around the C calls (the C modules carry their own counters)


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
