"""XGBoost tree ensembles as flat numpy arrays, walked for a few rows without XGBoost's call cost.

Owns: turning a Booster's JSON dump into complete binary trees in flat arrays, walking them for
small dense batches, and the proof at load time that the walk answers exactly like XGBoost.

Why: `inplace_predict` costs about 210 us per call whatever the batch, most of it set-up; walking
200 trees of depth 6 for one row here costs about 50 us, the sigmoid included. For big batches
XGBoost's own loop wins, so the booster flavour walks only batches within MAX_ROW_TREES.

Exactness, by doing XGBoost's arithmetic in XGBoost's order: the row is cast to float32 and each
split sends `x < threshold` left, a missing value its node's default way; leaf values are summed
in float32, tree by tree, starting from the base margin; the sigmoid is XGBoost's
`1 / (expf(min(-x, 88.7)) + 1 + 1e-16)` in float32 with the C library's `expf`. `build` refuses
what it does not model (multi-output, DART, categorical splits, other objectives); the booster
flavour then replays `probe_rows` (every threshold, its float32 neighbours, missing values)
through both, and any difference in any bit means XGBoost answers every request instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# The walk costs per row and tree, XGBoost ~210 us per call plus less per row and tree: with 200
# trees of depth 6 the walk was faster up to ~32 rows (1 row: 48 vs 212 us; 16: 164 vs 266 us).
MAX_ROW_TREES = 16 * 200
MAX_SLOTS = 2**20  # complete trees take 2**(depth+1) - 1 slots each, ~15 bytes a slot
PROBE_ROWS = 512
F32 = np.float32

Transform = Callable[[np.ndarray], np.ndarray]


class Unsupported(Exception):
    """The model has something the walk does not reproduce; XGBoost answers instead."""


@dataclass(frozen=True)
class TreeWalk:
    """Complete binary trees of one depth, stored level by level across all trees.

    Level L holds 2**L slots per tree: tree t's slots at that level are `level_starts[L][t]` and
    the 2**L - 1 after it, left to right, so a slot's children at the next level are its position
    times two, plus one for the right child. Inner levels share the `features`, `thresholds`
    and `missing_right` arrays; the bottom level is `leaves`, whose starts are
    `level_starts[depth]`. A leaf above the bottom level is copied into every bottom slot beneath
    it, so every walk takes exactly `depth` steps. Tree 0 is a stump whose leaves all hold the
    base margin, so the float32 running sum of a row's leaves starts where XGBoost's does.
    Level by level keeps each step's reads close together (the top levels of all trees fill a
    few cache lines), which cut the walk's time by a third when other processes had evicted the model
    from the cache, as they do between requests in a server.
    """

    depth: int
    level_starts: tuple[np.ndarray, ...]  # per level, where each tree's slots begin
    features: np.ndarray  # feature index at each inner slot
    thresholds: np.ndarray  # float32 threshold at each inner slot
    missing_right: np.ndarray  # True where a missing value goes right
    leaves: np.ndarray  # float32 value at each bottom slot
    link: str  # "identity" or "logistic": how a margin becomes the model's output
    transform: Transform

    @property
    def n_trees(self) -> int:
        return len(self.level_starts[0])

    def margins(self, rows: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(rows, dtype=F32)
        n_rows, width = values.shape
        flat = values.ravel()
        has_missing = bool(np.isnan(flat).any())
        row_starts = (np.arange(n_rows) * width)[:, None] if n_rows > 1 else None
        position = np.zeros((n_rows, self.n_trees), dtype=np.intp)  # in each tree's current level
        for starts in self.level_starts[:-1]:
            slot = starts + position
            columns = self.features.take(slot)
            if row_starts is not None:
                columns += row_starts
            value = flat.take(columns)
            right = value >= self.thresholds.take(slot)
            if has_missing:
                right = np.where(np.isnan(value), self.missing_right.take(slot), right)
            np.left_shift(position, 1, out=position)
            position += right
        per_tree = self.leaves.take(self.level_starts[-1] + position)
        return np.add.accumulate(per_tree, axis=1)[:, -1]

    def predict(self, rows: np.ndarray, margin: bool = False) -> np.ndarray:
        """The model's output, or with `margin` its untransformed sum (XGBoost's "margin")."""
        margins = self.margins(rows)
        return margins if margin else self.transform(margins)

    def suits(self, rows: Any) -> bool:
        """Whether walking is worth it for this batch: dense and small (sparse goes to XGBoost)."""
        return isinstance(rows, np.ndarray) and len(rows) * self.n_trees <= MAX_ROW_TREES


def build(model: dict[str, Any]) -> TreeWalk:
    """A TreeWalk for a Booster's JSON dump (`save_raw("json")`), or Unsupported."""
    learner = model["learner"]
    params = learner["learner_model_param"]
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree":
        raise Unsupported(f"booster {booster.get('name')!r} (only gbtree)")
    if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) != 1:
        raise Unsupported("more than one output per row")
    objective = learner["objective"]["name"]
    if objective not in OBJECTIVES:
        raise Unsupported(f"objective {objective}")
    link = OBJECTIVES[objective]
    base_margin, transform = LINKS[link]()
    trees = booster["model"]["trees"]
    if any(any(kind != 0 for kind in tree["split_type"]) for tree in trees):
        raise Unsupported("categorical splits")
    depth = max([_depth(tree) for tree in trees] + [1])
    if (len(trees) + 1) * (2 ** (depth + 1) - 1) > MAX_SLOTS:
        raise Unsupported(f"{len(trees)} trees {depth} deep (too large to lay out complete)")
    stump = {"left_children": [-1], "split_conditions": [float(base_margin(float(params["base_score"])))]}
    return _layout([stump, *trees], depth, link, transform)


def _layout(trees: list[dict[str, Any]], depth: int, link: str, transform: Transform) -> TreeWalk:
    block = 2 ** (depth + 1) - 1  # first laid out tree by tree, each in heap order (children 2i+1, 2i+2)
    features = np.zeros((len(trees), block), dtype=np.intp)
    thresholds = np.zeros((len(trees), block), dtype=F32)
    missing_right = np.zeros((len(trees), block), dtype=bool)
    leaves = np.zeros((len(trees), block), dtype=F32)
    for index, tree in enumerate(trees):
        pending = [(0, 0)]  # (node in the tree, slot in the complete tree)
        while pending:
            node, slot = pending.pop()
            if tree["left_children"][node] == -1:
                first, last = _bottom_span(slot, depth)
                leaves[index, first : last + 1] = tree["split_conditions"][node]
                continue
            features[index, slot] = tree["split_indices"][node]
            thresholds[index, slot] = tree["split_conditions"][node]
            missing_right[index, slot] = not tree["default_left"][node]
            pending += [
                (tree["left_children"][node], 2 * slot + 1),
                (tree["right_children"][node], 2 * slot + 2),
            ]
    # then regrouped level by level: level L is the heap slots 2**L - 1 to 2**(L+1) - 2 of each tree
    n = len(trees)
    inner = [slice(2**level - 1, 2 ** (level + 1) - 1) for level in range(depth)]
    starts = [n * (2**level - 1) + np.arange(n) * 2**level for level in range(depth)]
    starts.append(np.arange(n) * 2**depth)  # the bottom level, in its own array
    return TreeWalk(
        depth,
        tuple(starts),
        np.concatenate([features[:, level].ravel() for level in inner]),
        np.concatenate([thresholds[:, level].ravel() for level in inner]),
        np.concatenate([missing_right[:, level].ravel() for level in inner]),
        leaves[:, 2**depth - 1 :].ravel(),
        link,
        transform,
    )


def _bottom_span(slot: int, depth: int) -> tuple[int, int]:
    """The first and last bottom-level slots under `slot` in a complete tree of `depth`."""
    first = last = slot
    while first < 2**depth - 1:
        first, last = 2 * first + 1, 2 * last + 2
    return first, last


def _depth(tree: dict[str, Any]) -> int:
    left, right = tree["left_children"], tree["right_children"]
    deepest, pending = 0, [(0, 0)]
    while pending:
        node, level = pending.pop()
        if left[node] == -1:
            deepest = max(deepest, level)
        else:
            pending += [(left[node], level + 1), (right[node], level + 1)]
    return deepest


def probe_rows(walk: TreeWalk, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows whose values sit on, just below and just above the model's thresholds, or are missing."""
    return threshold_probes(walk.features, walk.thresholds, n_features, missing=True, seed=seed)


def threshold_probes(
    features: np.ndarray, thresholds: np.ndarray, n_features: int, missing: bool, seed: int = 0
) -> np.ndarray:
    """PROBE_ROWS rows in which each split feature takes, at random, one of its float32
    `thresholds`, a float32 step below or above one, or (with `missing`) a missing value; the
    other features are standard normal. Also exported_tree's."""
    random = np.random.default_rng(seed)
    rows = random.standard_normal((PROBE_ROWS, n_features)).astype(F32)
    for feature in np.unique(features):
        cuts = np.unique(thresholds[features == feature])
        near = [cuts, np.nextafter(cuts, -np.inf), np.nextafter(cuts, np.inf), [np.nan] if missing else []]
        rows[:, feature] = random.choice(np.concatenate(near).astype(F32), size=PROBE_ROWS)
    return rows.astype(np.float64)


# --- objectives: base margin from base_score, and the output transform, as XGBoost computes them


def _identity_objective() -> tuple[Callable[[float], F32], Transform]:
    return F32, _identity


def _logistic_objective() -> tuple[Callable[[float], F32], Transform]:
    libm = _libm()

    def logit(probability: float) -> F32:
        return -F32(libm.logf(float(F32(1) / F32(probability) - F32(1))))

    expf = libm.expf

    def sigmoid(margins: np.ndarray) -> np.ndarray:
        exponents = np.minimum(-margins, F32(88.7)).tolist()
        exps = np.fromiter(map(expf, exponents), dtype=F32, count=len(exponents))
        exps += F32(1)
        exps += F32(1e-16)
        return np.divide(F32(1), exps, dtype=F32)

    return logit, sigmoid


def _identity(margins: np.ndarray) -> np.ndarray:
    return margins


def _libm() -> Any:
    name = ctypes.util.find_library("m")
    if name is None:
        raise Unsupported("no C math library to compute expf and logf with")
    # PyDLL: call without releasing the GIL. A CDLL call releases and retakes it, which in a
    # worker whose other threads wait for it hands it over, a thread switch per row.
    libm = ctypes.PyDLL(name)
    for function in (libm.expf, libm.logf):
        function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
    return libm


LINKS: dict[str, Callable[[], tuple[Callable[[float], F32], Transform]]] = {
    "identity": _identity_objective,
    "logistic": _logistic_objective,
}
OBJECTIVES = {
    "reg:squarederror": "identity",
    "reg:absoluteerror": "identity",
    "reg:pseudohubererror": "identity",
    "binary:logistic": "logistic",
    "reg:logistic": "logistic",
    "binary:logitraw": "identity",
}
