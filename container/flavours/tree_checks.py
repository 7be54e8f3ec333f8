"""The checks a model's trees pass before any code walks them: a model file is untrusted input.

Owns: what makes an array of tree nodes walkable (every per-node array as long as the tree,
children inside it, each node reached from the root exactly once so no walk loops or revisits,
split features inside the row, split thresholds that are numbers, a size with a bound) and the
one-line reason when it is not. Used on XGBoost's trees (`check_booster_trees`, on the JSON
XGBoost itself writes after loading any of its three formats) and on exported scikit-learn trees
(exported_tree). Must not know HTTP, the walks or TreeSHAP: it only says yes or why not.

Why: XGBoost 3.0 loads a JSON or UBJSON model whose child index points outside its tree or back
to the root without complaint, then dies of a segmentation fault the first time it walks it
(`get_dump`, predicting), taking the worker with it; the walks in C (tree_walk.c, tree_shap.c)
read the row at each split's feature index as they are given it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_NODES = 1 << 26  # per tree: 64 Mi nodes is far beyond any trained tree (~1 GiB of arrays)
PER_NODE = ("left_children", "right_children", "split_indices", "split_conditions", "default_left")


class BadTrees(ValueError):
    """The trees cannot be walked safely; the message says why, in one line."""


def check_children(left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> None:
    """Refuse children outside the tree, and any node that is not reached from node 0 exactly
    once (a cycle, a shared child, an orphan): then every walk from the root ends at a leaf."""
    n_nodes = len(left)
    if not 0 < n_nodes <= MAX_NODES:
        raise BadTrees(f"a tree of {n_nodes} nodes (at most {MAX_NODES})")
    inner = ~is_leaf
    children = np.concatenate([left[inner], right[inner]])
    if children.size and (children.min() < 0 or children.max() >= n_nodes):
        raise BadTrees(f"a child index outside its tree of {n_nodes} nodes")
    reached = np.bincount(children, minlength=n_nodes)
    if reached[0] != 0 or np.any(reached[1:] != 1):
        raise BadTrees(
            "a tree whose nodes are not each reached once from its root (a cycle or a shared node)"
        )


def check_splits(features: np.ndarray, thresholds: np.ndarray, inner: np.ndarray, n_features: int) -> None:
    """Refuse a split on a feature outside 0..n_features - 1, or at a threshold that is NaN."""
    used = features[inner]
    outside = used[(used < 0) | (used >= n_features)]
    if outside.size:
        raise BadTrees(f"a split on feature {int(outside[0])}, outside the model's {n_features} features")
    if np.isnan(thresholds[inner]).any():
        raise BadTrees("a split at a threshold that is not a number (NaN)")


def check_booster_trees(model: dict[str, Any]) -> None:
    """Every tree of a Booster's JSON (`save_raw("json")`), or BadTrees."""
    try:
        learner = model["learner"]
        n_features = int(learner["learner_model_param"]["num_feature"])
        trees = learner["gradient_booster"]["model"]["trees"]
    except (KeyError, TypeError, ValueError):
        return  # not a tree booster (gblinear, say): nothing here walks it
    for index, tree in enumerate(trees):
        try:
            _check_booster_tree(tree, n_features)
        except BadTrees as reason:
            raise BadTrees(f"tree {index}: {reason}") from None


def _check_booster_tree(tree: dict[str, Any], n_features: int) -> None:
    n_nodes = int(tree["tree_param"]["num_nodes"])
    if any(len(tree[name]) != n_nodes for name in PER_NODE):
        raise BadTrees(f"per-node arrays of other lengths than its {n_nodes} nodes")
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    is_leaf = left == -1
    if np.any(is_leaf != (right == -1)):
        raise BadTrees("a node with one child")
    check_children(left, right, is_leaf)
    thresholds = np.asarray(tree["split_conditions"], dtype=np.float64)
    check_splits(np.asarray(tree["split_indices"], dtype=np.int64), thresholds, ~is_leaf, n_features)
