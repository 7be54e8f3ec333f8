"""The tables requests decode to and models predict from: `Matrix` and `Table`.

Owns: the one shape every layer passes on (codecs produce it, the schema checks it, flavours
predict from its rows), kept apart from the decoders so that importing it loads numpy alone:
outputs, the schema and every flavour use it without loading pandas, simdjson or the C readers.
Must not know any content type or model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse

Matrix: TypeAlias = "np.ndarray | scipy.sparse.csr_matrix"


@dataclass(frozen=True)
class Table:
    """Decoded rows (2-D, float64 or CSR) and, when the request named them, column names.
    `finite` says the decoder knows every value is a finite number, so conform need not look."""

    rows: Matrix
    columns: tuple[str, ...] | None = None
    finite: bool = False
