"""Contributions: each prediction of a booster split into additive parts, and summed by cause.

Two steps, each a pure function:

1. :func:`contributions` splits every prediction of a LightGBM booster into one
   additive contribution per design-matrix column plus a bias (LightGBM's
   ``pred_contrib``, the TreeSHAP values of the trees, or the faster path
   attribution). For the defection model they are in log-odds: a positive
   contribution raises the risk.
2. :func:`reason_groups` gathers the columns that describe one cause (the
   columns of one interaction kind, the purchase-rhythm columns, ...) under
   one reason key; :func:`group_contributions` sums the contributions of each
   group. Contributions are additive, so a group's sum is the group's share of
   the log-odds.

:func:`models.reasons.top_reasons` then writes the groups with the largest
positive sums as sentences.

Data contract: a contributions frame is on the index of the design matrix, with
one ``float64`` column per model feature (or per reason group), in order, then
:data:`BIAS_COLUMN`; each row sums to the raw score of that row.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from models.leaf_sums import leaf_sums, stack_tables
from models.lgbm import TrainedModel

__all__ = [
    "BIAS_COLUMN",
    "CONTRIBUTION_METHODS",
    "OTHER_GROUP",
    "REASON_GROUPS",
    "contributions",
    "group_contributions",
    "reason_groups",
]

#: Column of :func:`contributions` holding the bias (the expected raw score).
BIAS_COLUMN = "__bias__"

#: Group of the features that no pattern of :data:`REASON_GROUPS` matches.
OTHER_GROUP = "other"

#: Reason key -> pattern (``re.fullmatch``) of the feature names it sums, in
#: priority order: a feature belongs to the first group whose pattern matches,
#: and ties between groups go to the group listed first. The key ``{kind}``
#: stands for one group per interaction kind, keyed by the kind (``complaint``,
#: ``support_ticket``, ...): its pattern names the kind in the ``kind`` group.
#: ``refunds`` comes before it because ``refund_count_90d`` has the shape of a
#: count of interactions of a kind ``refund``.
REASON_GROUPS: Mapping[str, str] = MappingProxyType({
    "overdue": (r"recency_days|recency_gap_ratio|gap_(?:mean|median|std)_days|last_gap_days"
                r"|prior_gap_median_days|rfm_recency_score"),
    "frequency": r"frequency(?:_\d+d)?|rfm_frequency_score",
    "value": r"monetary_(?:sum|mean)(?:_\d+d)?|rfm_monetary_score",
    "spend_trend": r"(?:monetary|frequency)_trend_\d+d",
    "refunds": r"refund_(?:count|amount)(?:_\d+d)?",
    "{kind}": (r"(?P<kind>\w+?)_(?:count_\d+d|days_since_last|resolved_rate"
               r"|resolution_hours_mean|unresolved_\d+d)"),
    "satisfaction": r"satisfaction_(?:count|mean|last)",
    "tenure": r"tenure_days|days_since_first_purchase",
    "season": r"cutoff_month",
    "stage": r"stage",
    "segment": r"segment",
    "relationship": r"relationship_type",
    "purchase_pattern": r"(?:bgnbd|paretonbd)_\w+",
})

_RULES = tuple((key, re.compile(pattern)) for key, pattern in REASON_GROUPS.items())


# --------------------------------------------------------------------------
# Contributions
# --------------------------------------------------------------------------


#: How :func:`contributions` splits a prediction: ``"treeshap"`` (exact Shapley
#: values of the trees, LightGBM's ``pred_contrib``) or ``"path"`` (the change of
#: the node value along each row's path, credited to the split's feature).
CONTRIBUTION_METHODS = ("treeshap", "path")


def contributions(model: TrainedModel, X: pd.DataFrame, *, method: str = "treeshap",
                  groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Per-row, per-feature contributions to the raw score of a single-output model.

    For the defection model the raw score is the log-odds of defection; for
    the value model (Tweedie, log link) it is the log of the expected spend.
    Each row of the result sums to the raw score of that row, from the first
    ``model.best_iteration`` rounds, as ``booster.predict(X, raw_score=True)``
    gives it.

    Two methods, both exactly additive:

    * ``"treeshap"``: LightGBM's ``pred_contrib``, the TreeSHAP values of the
      trees (Lundberg et al., 2020). Consistent, and costly: about
      ``trees x leaves x depth**2`` operations per row, two orders of
      magnitude more than a prediction.
    * ``"path"``: the path attribution of Saabas (the ``treeinterpreter``
      method): walking a row down a tree, each split moves the expected value
      from the node's to the child's, and the move is credited to the split's
      feature; the bias is the sum of the trees' root values. It needs only the
      leaf of every row in every tree (``pred_leaf``) and a table per tree, so
      it costs about as much as a prediction. It credits a feature with the
      moves of the splits on it, where TreeSHAP shares the credit among the
      features a split interacts with, so the two rank reasons differently in
      some rows (measured on the buyers of the ``tiny`` demo, all snapshots,
      14,390 rows, reason groups: the same top reason for 77% of them,
      TreeSHAP's top reason among the path method's top three for 94%). Batch
      scoring uses it by default; ``"treeshap"`` where the exact Shapley
      attribution is worth its cost.

    Parameters
    ----------
    model
        A trained model with one output per row (not the transition model).
    X
        Design matrix with exactly the model's columns, in order
        (``FeatureFrame.transform``). Not modified.
    method
        ``"treeshap"`` (default) or ``"path"``.
    groups
        Reason key -> features (see :func:`reason_groups`): when given, the
        contributions come summed by group, as :func:`group_contributions` would
        sum them, one column per group (faster with ``"path"``: the sums are
        taken per tree leaf, not per row). Features in no group are left out.

    Returns
    -------
    pandas.DataFrame
        On the index of ``X``: one ``float64`` column per ``model.feature_names``
        (or per group), in order, then :data:`BIAS_COLUMN` (the same value on
        every row, the expected raw score over the training data).

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame.
    ValueError
        If the model has several outputs per row, ``X`` does not have the
        model's columns in the model's order, or the method is unknown.
    """
    if method not in CONTRIBUTION_METHODS:
        raise ValueError(f"contributions: method must be one of {CONTRIBUTION_METHODS}, "
                         f"got {method!r}")
    per_row = model.booster.num_model_per_iteration()
    if per_row != 1:
        raise ValueError(f"contributions: the model has {per_row} outputs per row (objective "
                         f"{model.objective!r}); reason codes need a single-output model such "
                         "as the defection model")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame from FeatureFrame.transform, "
                        f"got {type(X).__name__}")
    if tuple(X.columns) != model.feature_names:
        missing = [c for c in model.feature_names if c not in X.columns]
        extra = [c for c in X.columns if c not in model.feature_names]
        raise ValueError("contributions: X does not have the model's columns in the model's "
                         f"order: missing {missing}, unexpected {extra}; build it with the "
                         "FeatureFrame used in training")
    columns = [*model.feature_names, BIAS_COLUMN]
    # Feature -> output column: the identity, or the features' groups summed.
    projection = np.eye(len(model.feature_names))
    if groups is not None:
        per_feature = pd.DataFrame(np.eye(len(model.feature_names)),
                                   columns=list(model.feature_names))
        projection = _group_matrix(per_feature, groups)
        columns = [*groups, BIAS_COLUMN]
    if not len(X):
        return pd.DataFrame(np.empty((0, len(columns))), index=X.index, columns=columns)
    if method == "path":
        values = _path_contributions(model, X, projection)
    else:
        values = np.asarray(model.booster.predict(X, pred_contrib=True,
                                                  num_iteration=model.best_iteration),
                            dtype=np.float64)
        if values.shape != (len(X), len(model.feature_names) + 1):
            raise ValueError(f"contributions: LightGBM returned shape {values.shape}, "
                             f"expected {(len(X), len(model.feature_names) + 1)}")
        if groups is not None:
            values = np.column_stack([values[:, :-1] @ projection, values[:, -1]])
    return pd.DataFrame(values, index=X.index, columns=columns)


@functools.lru_cache(maxsize=8)
def _path_tables(booster: Any, num_iteration: int | None,
                 n_features: int) -> tuple[tuple[np.ndarray, ...], float]:
    """Per tree, the contribution of each feature on the path to each leaf
    (``leaves x features``), and the summed root values (the bias)."""
    dump = booster.dump_model(num_iteration=num_iteration)
    tables, bias = [], 0.0
    for info in dump["tree_info"]:
        root = info["tree_structure"]
        table = np.zeros((max(int(info["num_leaves"]), 1), n_features))
        if "split_feature" not in root:  # a tree of one leaf: a constant
            bias += float(root.get("leaf_value", 0.0))
            tables.append(table)
            continue
        bias += float(root["internal_value"])
        stack = [(root, np.zeros(n_features))]
        while stack:
            node, path = stack.pop()
            for child in (node["left_child"], node["right_child"]):
                leaf = "split_feature" not in child
                value = child["leaf_value"] if leaf else child["internal_value"]
                moved = path.copy()
                moved[node["split_feature"]] += value - node["internal_value"]
                if leaf:
                    table[child["leaf_index"]] = moved
                else:
                    stack.append((child, moved))
        tables.append(table)
    return tuple(tables), bias


def _path_contributions(model: TrainedModel, X: pd.DataFrame,
                        projection: np.ndarray) -> np.ndarray:
    """Path contributions projected on ``projection`` (features x outputs), then the bias."""
    tables, bias = _path_tables(model.booster, model.best_iteration, len(model.feature_names))
    stacked = stack_tables([table @ projection for table in tables])
    out = np.empty((len(X), projection.shape[1] + 1))
    out[:, -1] = bias
    # LightGBM returns the leaves of all rows as doubles before it makes them int32 (12
    # bytes a row and tree): taken a slice of rows at a time, they stay a few MB.
    for start in range(0, len(X), _LEAF_ROWS):
        rows = X.iloc[start:start + _LEAF_ROWS]
        leaves = np.asarray(model.booster.predict(rows, pred_leaf=True,
                                                  num_iteration=model.best_iteration))
        out[start:start + len(rows), :-1] = leaf_sums(leaves.reshape(len(rows), -1), stacked)
    return out


#: Rows whose leaves :func:`_path_contributions` asks LightGBM for at once.
_LEAF_ROWS = 16_384


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------


def reason_groups(feature_names: Sequence[str]) -> dict[str, list[str]]:
    """Assign every feature to exactly one reason group, by its name.

    Parameters
    ----------
    feature_names
        Design-matrix columns (for instance ``model.feature_names``): the
        feature table's columns, ``stage``, ``bgnbd_*`` columns. The bias
        column :data:`BIAS_COLUMN`, if present, is left out.

    Returns
    -------
    dict of str to list of str
        Reason key -> its features, in the order of ``feature_names``. Keys come
        in the order of :data:`REASON_GROUPS` (the kind groups in the order in
        which their first feature appears), then :data:`OTHER_GROUP` for the
        features no pattern matches. Only non-empty groups are listed.

    Raises
    ------
    ValueError
        If a name is repeated.
    """
    names = [n for n in feature_names if n != BIAS_COLUMN]
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    if repeated:
        raise ValueError(f"reason_groups: feature names are repeated: {repeated}")
    found: dict[str, list[str]] = {}
    rank: dict[str, tuple[int, int]] = {}
    for position, name in enumerate(names):
        key, rule = OTHER_GROUP, len(_RULES)
        for i, (template, pattern) in enumerate(_RULES):
            match = pattern.fullmatch(name)
            if match:
                key, rule = template.format(**match.groupdict()), i
                break
        found.setdefault(key, []).append(name)
        rank.setdefault(key, (rule, position))
    return {key: found[key] for key in sorted(found, key=rank.__getitem__)}


def _group_matrix(contrib: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Summed contributions, shape (rows, groups), after checking ``groups``."""
    if not isinstance(contrib, pd.DataFrame):
        raise TypeError(f"contrib must be a pandas DataFrame from contributions, "
                        f"got {type(contrib).__name__}")
    owner: dict[str, str] = {}
    for key, members in groups.items():
        for name in members:
            if name in owner:
                raise ValueError(f"feature {name!r} is in two reason groups, {owner[name]!r} "
                                 f"and {key!r}: its contribution would count twice")
            owner[name] = key
    missing = [n for n in owner if n not in contrib.columns]
    if missing:
        raise ValueError(f"{len(missing)} grouped feature(s) are not columns of contrib: "
                         f"{missing[:10]}; build the groups from the model's feature names")
    position = {name: i for i, name in enumerate(contrib.columns)}
    values = contrib.to_numpy(dtype=np.float64)
    sums = np.zeros((len(contrib), len(groups)), dtype=np.float64)
    for j, members in enumerate(groups.values()):
        if len(members):
            sums[:, j] = values[:, [position[n] for n in members]].sum(axis=1)
    return sums


def group_contributions(
    contrib: pd.DataFrame,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Sum the contributions of the features of each reason group.

    Parameters
    ----------
    contrib
        Output of :func:`contributions` (the bias column is ignored).
    groups
        Reason key -> features; default ``reason_groups(contrib.columns)``.
        Features of ``contrib`` in no group are left out of every sum.

    Returns
    -------
    pandas.DataFrame
        On the index of ``contrib``: one ``float64`` column per group, in the
        order of ``groups``.

    Raises
    ------
    ValueError
        If a feature is in two groups, or a grouped feature is not a column of
        ``contrib``.
    """
    groups = reason_groups(list(contrib.columns)) if groups is None else groups
    return pd.DataFrame(_group_matrix(contrib, groups), index=contrib.index,
                        columns=list(groups))
