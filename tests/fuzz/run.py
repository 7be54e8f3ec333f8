"""Run one fuzz target under atheris: `python -m tests.fuzz.run TARGET [libFuzzer flags] CORPUS_DIR`.
scripts/fuzz calls it with the sanitized build's environment (see there).

Only the project's own Python (the `container` package) is instrumented for coverage, as it is
imported: `atheris.instrument_all()` rewrote the bytecode of every function already loaded, numpy's
and hypothesis' included (about 17,000), which under the ASan allocator took longer than any fuzzing
budget, so the targets never started. The C modules carry their own counters (-fsanitize=fuzzer-no-link).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["container"]):
    from tests.helpers.fuzz_targets import TARGETS


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
