"""An inference script with an input_fn alone, written as users write one (bench/ab.py's script-mode
side): CSV rows parsed in Python; the model, its outputs and the encoders stay the container's."""

import numpy as np


def input_fn(body, content_type):
    return np.array([line.split(",") for line in body.splitlines()], dtype=float)
