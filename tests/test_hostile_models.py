"""Hostile model files are refused at load with one line, before any walk (XGBoost's, numpy's or
the C modules') reads them: out-of-range children, cycles, shared nodes, features beyond the row,
NaN thresholds, truncated arrays and absurd sizes in XGBoost JSON and UBJSON, exported trees and
manifests (tests/helpers/hostile_models.py). scripts/sanitize runs this file against the C
modules built with AddressSanitizer too."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from container.errors import ModelLoadError
from container.flavours import export_path, load_model
from container.flavours.estimator import EstimatorModel
from container.flavours.exported_tree import ExportRejected, load_export
from container.settings import Settings
from tests.helpers.hostile_models import HOSTILE


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_model_is_refused_in_one_line(name: str, tmp_path: Path) -> None:
    write, words = HOSTILE[name]
    write(tmp_path)
    if name.startswith("export:"):
        artifact = tmp_path / "model.skops"
        with pytest.raises(ExportRejected) as refused:
            load_export(export_path(artifact), artifact)
        reason = str(refused.value)
    else:
        with pytest.raises(ModelLoadError) as refused:
            load_model(Settings(model_dir=tmp_path))
        reason = refused.value.message
    assert words in reason
    assert "\n" not in reason and "Traceback" not in reason


def test_a_refused_export_leaves_the_model_served_by_scikit_learn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write, _ = HOSTILE["export: cycle"]
    write(tmp_path)
    with caplog.at_level(logging.WARNING, logger="byom"):
        model = load_model(Settings(model_dir=tmp_path))
    assert isinstance(model, EstimatorModel)
    assert "cannot be walked safely" in caplog.text
    assert model.contributions(np.zeros((2, 4))).shape == (2, 3, 5)
