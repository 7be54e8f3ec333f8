"""The fuzz corpus as regressions: every file of tests/fuzz/corpus/<target>/ through its target of
tests/helpers/fuzz_targets.py, on the normal build of the C modules (scripts/fuzz runs the same
targets, coverage-guided, on the sanitized build). A crash the fuzzer found and that was added to
the corpus stays fixed; a disagreement between a C reader or walk and its Python path fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from container import tree_shap
from container.codecs import routes
from container.flavours.compiled_walk import LIBRARY
from tests.helpers.fuzz_targets import TARGETS

CORPUS = Path(__file__).parent / "fuzz" / "corpus"

# Without its C module a target compares the Python path with itself: that proves nothing.
C_MODULE_BUILT: dict[str, Callable[[], bool]] = {
    "csv": lambda: routes.ROW_READER is not None,
    "csv_block": lambda: routes.ROW_READER is not None,
    "libsvm": lambda: routes.ROW_READER is not None,
    "json": lambda: routes.ROW_READER is not None,
    "tree_walk": LIBRARY.exists,
    "tree_shap": lambda: tree_shap.COMPILED is not None,
}


def _seeds(target: str) -> list[Path]:
    return sorted(path for path in (CORPUS / target).iterdir() if path.is_file())


def test_every_target_has_seeds_and_every_corpus_a_target() -> None:
    assert sorted(path.name for path in CORPUS.iterdir() if path.is_dir()) == sorted(TARGETS)
    assert all(_seeds(target) for target in TARGETS)


def _cases() -> list[object]:
    return [
        pytest.param(target, seed, id=f"{target}/{seed.name}")
        for target in sorted(TARGETS)
        for seed in _seeds(target)
    ]


@pytest.mark.parametrize(("target", "seed"), _cases())
def test_corpus_file_passes_its_target(target: str, seed: Path) -> None:
    assert C_MODULE_BUILT[target](), f"the C module behind {target} is not built: run make"
    TARGETS[target](seed.read_bytes())
