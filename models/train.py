"""The three LightGBM models: defection, stage transition and future value.

Every model reads the same design matrix, built by :func:`design_matrix` from
the feature table joined with the labels: numeric features as ``float64``
(nulls as ``NaN``, which LightGBM treats as missing) and categorical features
as pandas ``Categorical`` columns with *fixed* categories. The categories are
part of the model: LightGBM splits on category codes, so training and scoring
must code ``"core"`` or ``"self_service"`` by the same number. They are given
(:data:`~models.stages.STAGES` for ``stage``) or learned once from the training
rows (:meth:`FeatureFrame.from_training`); a value unseen in training becomes a
missing value, never a new code.

Models
------
* defection: binary, ``P(no purchase in the horizon)``, :func:`train_defection`;
* transition: multiclass over the stages, ``P(stage at t + horizon)``,
  :func:`train_transition`;
* value: expected spend in the horizon, Tweedie regression, :func:`train_value`.

Each is trained with :func:`lightgbm.train` and stopped early on a separate
"stop" set (the part of the validation cutoff not kept for calibration, see
:func:`models.calibration.split_for_calibration`). The ``predict_*`` helpers
always score with the best iteration found there.

Reproducibility
---------------
:class:`LightGBMParams` always sets ``deterministic=True`` and
``force_row_wise=True``, and derives every random seed of LightGBM (bagging,
feature fraction, binning sample) from ``seed``. With the same data, seed and
``num_threads``, two trainings give byte-identical boosters and predictions.
A different thread count can change the order of floating-point sums and so
the last bits of a prediction.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.build import KEY_COLUMNS
from models.stages import STAGES

__all__ = [
    "ABSENT_CLASS_PROBABILITY",
    "PROFILE_CATEGORICALS",
    "STAGE_COLUMN",
    "FeatureFrame",
    "LightGBMParams",
    "TrainedModel",
    "design_matrix",
    "feature_columns",
    "learn_categories",
    "predict_defection",
    "predict_transition",
    "predict_value",
    "train_defection",
    "train_transition",
    "train_value",
]

#: Categorical columns of the feature table (customer profile).
PROFILE_CATEGORICALS: tuple[str, ...] = ("segment", "relationship_type")

#: Stage at the cutoff: a column of the labels table, used as a model input.
STAGE_COLUMN = "stage"

#: Probability given to a class that never occurred in the training labels.
ABSENT_CLASS_PROBABILITY = 1e-6

#: Variance power of the Tweedie objective of the value model (see :func:`train_value`).
TWEEDIE_VARIANCE_POWER = 1.5


# --------------------------------------------------------------------------
# The design matrix
# --------------------------------------------------------------------------


def feature_columns(
    feature_table_names: Iterable[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Decide which columns are model inputs, and which of them are categorical.

    Parameters
    ----------
    feature_table_names
        Column names of the feature table, in table order (for instance
        ``feature_table(spec).names``).

    Returns
    -------
    numeric : tuple of str
        Every feature-table column except the keys (``customer_id``, ``cutoff``)
        and the categorical ones, in table order.
    categorical : tuple of str
        ``segment`` and ``relationship_type`` (those present, in table order),
        then ``stage``, the stage at the cutoff taken from the labels table,
        which is always an input.

    Raises
    ------
    ValueError
        If a name is repeated, or the feature table already has a ``stage``
        column (the stage must come from the labels, computed by the stage rules).
    """
    names = list(feature_table_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature table column names are repeated: {repeated}")
    if STAGE_COLUMN in names:
        raise ValueError(f"the feature table has a {STAGE_COLUMN!r} column; the stage input "
                         "is taken from the labels table, drop it from the features")
    inputs = [n for n in names if n not in KEY_COLUMNS]
    categorical = [n for n in inputs if n in PROFILE_CATEGORICALS]
    numeric = [n for n in inputs if n not in PROFILE_CATEGORICALS]
    return tuple(numeric), (*categorical, STAGE_COLUMN)


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        more = " ..." if frame.shape[1] > 10 else ""
        raise ValueError(f"{what}: {len(missing)} column(s) missing from the frame: {missing}; "
                         f"it has {list(frame.columns)[:10]}{more}")


def _category_list(column: str, values: Sequence[Any]) -> list[str]:
    cats = list(values)
    bad = [v for v in cats if not isinstance(v, str)]
    if bad:
        raise ValueError(f"categories of {column!r} must be strings; got {len(bad)} other "
                         f"value(s), e.g. {bad[0]!r}")
    if len(set(cats)) != len(cats):
        dup = next(v for v in cats if cats.count(v) > 1)
        raise ValueError(f"categories of {column!r} are repeated, e.g. {dup!r}")
    return cats


def _as_text(values: pd.Series) -> pd.Series:
    """Values as pandas strings, nulls as ``<NA>``: how categories are compared."""
    return values.astype("string")


def learn_categories(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    fixed: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """The categories of each categorical column: given, or learned from ``frame``.

    Parameters
    ----------
    frame
        Training rows; only ``columns`` not in ``fixed`` are read.
    columns
        Categorical columns.
    fixed
        Categories that do not depend on the data (``{"stage": STAGES}``); kept
        as given, in the given order.

    Returns
    -------
    dict of str to tuple of str
        For every column of ``columns``: the fixed categories, or the distinct
        non-null values of ``frame[column]`` as text (pandas ``string`` conversion,
        as in :func:`design_matrix`), sorted, so that the same training values
        always give the same codes whatever their row order.
    """
    fixed = dict(fixed or {})
    out: dict[str, tuple[str, ...]] = {}
    for column in columns:
        if column in fixed:
            out[column] = tuple(_category_list(column, fixed[column]))
            continue
        _check_columns(frame, [column], "learn_categories")
        text = _as_text(frame[column])
        out[column] = tuple(sorted(set(text[text.notna()])))
    return out


def design_matrix(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    categories: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Select and type the model inputs of ``frame``.

    Input columns ``numeric + categorical`` of ``frame`` → output columns
    ``numeric`` (``float64``, nulls as ``NaN``) then ``categorical`` (pandas
    ``category`` with exactly ``categories[column]``, unordered; a value outside
    them, or a null, becomes a missing value), on the index of ``frame``.
    The output columns and dtypes depend only on the arguments other than the
    rows of ``frame``, so that training, validation and scoring frames look
    the same to the model. ``frame`` is not modified.

    Parameters
    ----------
    frame
        Features joined with labels (or scoring rows); other columns are ignored.
    numeric
        Numeric inputs: numbers, booleans or nullable integers.
    categorical
        Categorical inputs, compared as text with the categories.
    categories
        Categories of every column of ``categorical`` (see :func:`learn_categories`).

    Returns
    -------
    pandas.DataFrame
        A new frame with columns ``[*numeric, *categorical]``.

    Raises
    ------
    ValueError
        If a column is missing, listed twice, has no categories, or a numeric
        column holds non-numeric values.
    """
    numeric, categorical = list(numeric), list(categorical)
    both = numeric + categorical
    repeated = sorted({c for c in both if both.count(c) > 1})
    if repeated:
        raise ValueError(f"design_matrix: columns listed more than once: {repeated}")
    _check_columns(frame, both, "design_matrix")
    no_cats = [c for c in categorical if c not in categories]
    if no_cats:
        raise ValueError(f"design_matrix: no categories given for {no_cats}; learn them from "
                         "the training rows with learn_categories")

    out: dict[str, Any] = {}
    for column in numeric:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        ):
            raise ValueError(f"design_matrix: numeric column {column!r} has dtype "
                             f"{values.dtype}; example value {values.dropna().iloc[:1].tolist()}")
        out[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    for column in categorical:
        dtype = pd.CategoricalDtype(_category_list(column, categories[column]), ordered=False)
        # get_indexer gives -1, the code of a missing value, to nulls and unseen values.
        codes = dtype.categories.get_indexer(_as_text(frame[column]))
        out[column] = pd.Categorical.from_codes(codes, dtype=dtype)
    return pd.DataFrame(out, index=frame.index, columns=both)


@dataclass(frozen=True)
class FeatureFrame:
    """The schema of a design matrix: its columns and the categories of each.

    Store it with a model (:meth:`to_dict`) so that scoring builds exactly the
    matrix the model was trained on.

    Parameters
    ----------
    numeric
        Numeric input columns.
    categorical
        Categorical input columns.
    categories
        Categories of each categorical column, in code order.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "categories",
                           {c: tuple(_category_list(c, v)) for c, v in self.categories.items()})
        missing = [c for c in self.categorical if c not in self.categories]
        if missing:
            raise ValueError(f"FeatureFrame: no categories for {missing}")

    @classmethod
    def from_training(
        cls,
        frame: pd.DataFrame,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        fixed_categories: Mapping[str, Sequence[str]] | None = None,
    ) -> FeatureFrame:
        """Fix the schema from the training rows (see :func:`learn_categories`)."""
        cats = learn_categories(frame, categorical, fixed=fixed_categories)
        return cls(tuple(numeric), tuple(categorical), cats)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output columns, in order."""
        return (*self.numeric, *self.categorical)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``frame`` (see :func:`design_matrix`)."""
        return design_matrix(frame, numeric=self.numeric, categorical=self.categorical,
                             categories=self.categories)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` reads it back."""
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": {c: list(self.categories[c]) for c in self.categorical}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureFrame:
        """Read back the output of :meth:`to_dict`."""
        return cls(tuple(data["numeric"]), tuple(data["categorical"]),
                   {c: tuple(v) for c, v in data["categories"].items()})


# --------------------------------------------------------------------------
# Parameters and the trained model
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LightGBMParams:
    """Hyper-parameters shared by the three models.

    The defaults suit a few hundred thousand training rows: a small learning
    rate with many rounds and early stopping, leaves of at least 50 rows so
    that no split follows a handful of customers, and row and feature
    subsampling for variance.

    Parameters
    ----------
    learning_rate
        Shrinkage of each tree.
    num_leaves
        Maximum number of leaves per tree.
    min_child_samples
        Minimum number of rows in a leaf (LightGBM ``min_data_in_leaf``).
    feature_fraction
        Share of the features drawn for each tree, in ``(0, 1]``.
    bagging_fraction
        Share of the rows drawn for each bagging round, in ``(0, 1]``.
    bagging_freq
        Re-draw the rows every this many iterations; 0 disables bagging.
    lambda_l2
        L2 penalty on leaf values.
    num_boost_round
        Maximum number of boosting rounds (trees per class).
    early_stopping_rounds
        Stop when the metric on the stop set has not improved for this many rounds.
    seed
        Seed of every random choice LightGBM makes.
    num_threads
        Threads used by LightGBM. Part of the reproducibility contract: results
        are byte-identical for the same seed *and* the same thread count.
    """

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    seed: int = 42
    num_threads: int = 2

    def __post_init__(self) -> None:
        checks = {
            "learning_rate": self.learning_rate > 0,
            "num_leaves": self.num_leaves >= 2,
            "min_child_samples": self.min_child_samples >= 1,
            "feature_fraction": 0 < self.feature_fraction <= 1,
            "bagging_fraction": 0 < self.bagging_fraction <= 1,
            "bagging_freq": self.bagging_freq >= 0,
            "lambda_l2": self.lambda_l2 >= 0,
            "num_boost_round": self.num_boost_round >= 1,
            "early_stopping_rounds": self.early_stopping_rounds >= 1,
            "num_threads": self.num_threads >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError("LightGBMParams: invalid "
                             + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))

    def booster_params(self) -> dict[str, Any]:
        """Parameters for :func:`lightgbm.train`, without the objective.

        Uses LightGBM's canonical names, and always adds ``deterministic``,
        ``force_row_wise`` and ``verbosity=-1``.
        """
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A booster with what is needed to score with it and to report on its training.

    Parameters
    ----------
    booster
        The trained booster. :func:`lightgbm.train` keeps only the first
        ``best_iteration`` rounds of an early-stopped booster.
    best_iteration
        Number of rounds that gave the best metric on the stop set (1-based);
        every prediction uses this many rounds.
    best_score
        The metric on the stop set at ``best_iteration``.
    feature_names
        Design-matrix columns, in order; scoring frames must have exactly these.
    objective
        LightGBM objective: ``binary``, ``multiclass`` or ``tweedie``.
    metric
        Name of the early-stopping metric (``binary_logloss``, ``multi_logloss``,
        ``tweedie``).
    classes
        Multiclass only: the classes of the predicted probabilities, in column order.
    trained_classes
        Multiclass only: the classes that occurred in the training labels, in the
        order of the booster's outputs (a subsequence of ``classes``).
    history
        The metric on the stop set after each round.
    """

    booster: lgb.Booster
    best_iteration: int
    best_score: float
    feature_names: tuple[str, ...]
    objective: str = ""
    metric: str = ""
    classes: tuple[str, ...] = ()
    trained_classes: tuple[str, ...] = ()
    history: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Read back from JSON, the sequences are lists; comparisons need tuples.
        for name in ("feature_names", "classes", "trained_classes", "history"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def metadata(self) -> dict[str, Any]:
        """Every field but the booster and the history, JSON-ready.

        ``TrainedModel(booster=lgb.Booster(model_file=...), **metadata)`` rebuilds
        the model from a booster saved with ``num_iteration=best_iteration``.
        """
        return {"best_iteration": int(self.best_iteration),
                "best_score": float(self.best_score),
                "feature_names": list(self.feature_names), "objective": self.objective,
                "metric": self.metric, "classes": list(self.classes),
                "trained_classes": list(self.trained_classes)}


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def _check_design(X: pd.DataFrame, what: str, *, allow_empty: bool = False) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame from design_matrix, "
                        f"got {type(X).__name__}")
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{what} has no rows")
    bad = [c for c in X.columns if not (isinstance(X[c].dtype, pd.CategoricalDtype)
                                        or X[c].dtype == np.float64)]
    if bad:
        raise ValueError(f"{what}: columns {bad} are neither float64 nor category "
                         f"(e.g. {bad[0]!r} is {X[bad[0]].dtype}); build it with design_matrix")


def _check_pair(X_train: pd.DataFrame, X_stop: pd.DataFrame) -> list[str]:
    _check_design(X_train, "X_train")
    _check_design(X_stop, "X_stop")
    if list(X_train.columns) != list(X_stop.columns):
        raise ValueError("X_train and X_stop have different columns: "
                         f"{sorted(set(X_train.columns) ^ set(X_stop.columns)) or 'order differs'}")
    differ = [c for c in X_train.columns if X_train[c].dtype != X_stop[c].dtype]
    if differ:
        raise ValueError(f"X_train and X_stop have different dtypes for {differ}: build both "
                         "with the same design_matrix arguments")
    return [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]


def _target(y: Any, n: int, what: str) -> pd.Series:
    y = pd.Series(y).reset_index(drop=True) if not isinstance(y, pd.Series) else y
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} values for {n} rows")
    missing = y.isna()
    if missing.any():
        raise ValueError(f"{what} has {int(missing.sum())} missing value(s) (first at position "
                         f"{int(np.flatnonzero(missing.to_numpy())[0])}); drop those rows first "
                         "(for defection: prospects, whose 'defected' is null)")
    return y


def _binary(y: Any, n: int, what: str) -> np.ndarray:
    y = _target(y, n, what)
    values = y.astype(object).to_numpy()
    ok = np.array([v in (0, 1) for v in values], dtype=bool)  # True == 1, False == 0
    if not ok.all():
        raise ValueError(f"{what} must be 0/1 or boolean; {int((~ok).sum())} value(s) are not, "
                         f"e.g. {values[~ok][0]!r}")
    return values.astype(np.float64)


def _nonnegative(y: Any, n: int, what: str) -> np.ndarray:
    y = _target(y, n, what)
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValueError(f"{what} must be finite and >= 0; {int(bad.sum())} value(s) are not, "
                         f"e.g. {y.iloc[int(np.flatnonzero(bad)[0])]!r}")
    return values


def _encode(y: Any, n: int, classes: Sequence[Hashable], what: str) -> np.ndarray:
    y = _target(y, n, what)
    index = {c: i for i, c in enumerate(classes)}
    values = y.astype(object).to_numpy()
    codes = np.array([index.get(v, -1) for v in values], dtype=np.int64)
    unknown = codes < 0
    if unknown.any():
        raise ValueError(f"{what}: {int(unknown.sum())} value(s) are not among the classes "
                         f"{list(classes)}, e.g. {values[unknown][0]!r}")
    return codes


def _fit(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_stop: pd.DataFrame,
    y_stop: np.ndarray,
    params: LightGBMParams,
    objective: dict[str, Any],
    metric: str,
    categorical: list[str],
) -> tuple[lgb.Booster, int, float, tuple[float, ...]]:
    train_set = lgb.Dataset(X_train, label=y_train, categorical_feature=categorical,
                            free_raw_data=True)
    stop_set = lgb.Dataset(X_stop, label=y_stop, categorical_feature=categorical,
                           reference=train_set, free_raw_data=True)
    booster_params = {**params.booster_params(), **objective, "metric": metric}
    history: dict[str, dict[str, list[float]]] = {}
    booster = lgb.train(
        booster_params,
        train_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[stop_set],
        valid_names=["stop"],
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True,
                               verbose=False),
            lgb.log_evaluation(0),
            lgb.record_evaluation(history),
        ],
    )
    curve = tuple(float(v) for v in history["stop"][metric])
    # The callback sets best_iteration when it stops and at the last round.
    best = int(booster.best_iteration) or len(curve)
    return booster, best, float(booster.best_score["stop"][metric]), curve


def train_defection(
    X_train: pd.DataFrame,
    y_train: Any,
    X_stop: pd.DataFrame,
    y_stop: Any,
    params: LightGBMParams | None = None,
) -> TrainedModel:
    """Train the defection model: ``P(no purchase in the horizon)``.

    Binary log loss, stopped early on the stop set.

    Parameters
    ----------
    X_train, X_stop
        Design matrices (:func:`design_matrix`) of the training rows and of the
        early-stopping rows, with the same columns and dtypes.
    y_train, y_stop
        ``defected`` of those rows: booleans or 0/1, no nulls (prospects, whose
        label is null, are left out by the caller).
    params
        Hyper-parameters; default :class:`LightGBMParams`.

    Returns
    -------
    TrainedModel
        Score it with :func:`predict_defection`.
    """
    params = params or LightGBMParams()
    categorical = _check_pair(X_train, X_stop)
    y_tr = _binary(y_train, len(X_train), "y_train")
    y_st = _binary(y_stop, len(X_stop), "y_stop")
    if np.unique(y_tr).size < 2:
        raise ValueError("y_train has a single class: the defection model needs both "
                         "defected and retained customers")
    booster, best, score, curve = _fit(X_train, y_tr, X_stop, y_st, params,
                                       {"objective": "binary"}, "binary_logloss", categorical)
    return TrainedModel(booster, best, score, tuple(X_train.columns), "binary",
                        "binary_logloss", history=curve)


def train_transition(
    X_train: pd.DataFrame,
    y_train: Any,
    X_stop: pd.DataFrame,
    y_stop: Any,
    params: LightGBMParams | None = None,
    classes: Sequence[str] = STAGES,
) -> TrainedModel:
    """Train the transition model: the stage at ``t + horizon``, over ``classes``.

    Multiclass (softmax) log loss, stopped early on the stop set.

    Classes that never occur in ``y_train`` are left out of the booster: it
    has one output per class that does occur, so no trees are spent driving
    an unseen class down, and :func:`predict_transition` gives the others
    :data:`ABSENT_CLASS_PROBABILITY`. Stop rows labelled with such a class are
    left out of early stopping: their predicted probability is that constant
    whatever the number of rounds, so they could not move the best round.

    Parameters
    ----------
    X_train, X_stop
        Design matrices of the training and early-stopping rows.
    y_train, y_stop
        ``next_stage`` of those rows, each a member of ``classes``.
    params
        Hyper-parameters; default :class:`LightGBMParams`.
    classes
        All classes, in the order of the predicted columns.

    Returns
    -------
    TrainedModel
        With ``classes`` and ``trained_classes`` set; score it with
        :func:`predict_transition`. ``best_score`` is the multiclass log loss
        on the stop rows whose class occurs in training.

    Raises
    ------
    ValueError
        If a label is null or not in ``classes``, fewer than two classes occur
        in training, or no stop row has a class that occurs in training.
    """
    params = params or LightGBMParams()
    classes = tuple(_category_list("classes", classes))
    categorical = _check_pair(X_train, X_stop)
    codes_tr = _encode(y_train, len(X_train), classes, "y_train")
    codes_st = _encode(y_stop, len(X_stop), classes, "y_stop")
    present = np.unique(codes_tr)
    if present.size < 2:
        raise ValueError(f"y_train has {present.size} class(es) of {list(classes)}; "
                         "the transition model needs at least two")
    trained = tuple(classes[i] for i in present)
    remap = np.full(len(classes), -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    keep = remap[codes_st] >= 0
    if not keep.any():
        raise ValueError(f"no stop row has a class seen in training ({list(trained)})")
    X_st = X_stop[keep] if not keep.all() else X_stop
    booster, best, score, curve = _fit(
        X_train, remap[codes_tr].astype(np.float64), X_st, remap[codes_st[keep]].astype(np.float64),
        params, {"objective": "multiclass", "num_class": int(present.size)}, "multi_logloss",
        categorical)
    return TrainedModel(booster, best, score, tuple(X_train.columns), "multiclass",
                        "multi_logloss", classes=classes, trained_classes=trained, history=curve)


def train_value(
    X_train: pd.DataFrame,
    y_train: Any,
    X_stop: pd.DataFrame,
    y_stop: Any,
    params: LightGBMParams | None = None,
) -> TrainedModel:
    """Train the value model: expected spend in the horizon.

    The objective is Tweedie with variance power 1.5 and a log link. Spend in
    a horizon is zero for many customers and right-skewed for the others.
    A Tweedie distribution with power between 1 and 2 is a compound
    Poisson-gamma: a Poisson number of gamma-distributed amounts, so it puts
    a point mass at zero and a skewed continuous part above it, as the data
    do, with a variance growing like ``mean**1.5`` so large spenders do not
    dominate the fit as they do under squared error. It models the *mean*
    spend directly, which a regression on ``log1p(spend)`` does not (that
    estimates a geometric mean and under-predicts totals), and needs one
    model where a hurdle approach needs two. 1.5 sits between Poisson (1) and
    gamma (2). The log link makes every prediction positive.

    Parameters
    ----------
    X_train, X_stop
        Design matrices of the training and early-stopping rows.
    y_train, y_stop
        ``future_spend`` of those rows: finite and non-negative.
    params
        Hyper-parameters; default :class:`LightGBMParams`.

    Returns
    -------
    TrainedModel
        Early-stopped on the Tweedie negative log-likelihood (metric ``tweedie``);
        score it with :func:`predict_value`.
    """
    params = params or LightGBMParams()
    categorical = _check_pair(X_train, X_stop)
    y_tr = _nonnegative(y_train, len(X_train), "y_train")
    y_st = _nonnegative(y_stop, len(X_stop), "y_stop")
    if not (y_tr > 0).any():
        raise ValueError("y_train is zero everywhere: there is no spend to model")
    objective = {"objective": "tweedie", "tweedie_variance_power": TWEEDIE_VARIANCE_POWER}
    booster, best, score, curve = _fit(X_train, y_tr, X_stop, y_st, params, objective,
                                       "tweedie", categorical)
    return TrainedModel(booster, best, score, tuple(X_train.columns), "tweedie", "tweedie",
                        history=curve)


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


def _raw_predict(model: TrainedModel, X: pd.DataFrame, objective: str) -> np.ndarray:
    if model.objective != objective:
        raise ValueError(f"this is a {model.objective!r} model; expected a {objective!r} one")
    _check_design(X, "X", allow_empty=True)
    if tuple(X.columns) != model.feature_names:
        missing = [c for c in model.feature_names if c not in X.columns]
        extra = [c for c in X.columns if c not in model.feature_names]
        raise ValueError("X does not have the model's columns in the model's order: "
                         f"missing {missing}, unexpected {extra}; build it with the "
                         "FeatureFrame used in training")
    if not len(X):
        width = len(model.trained_classes) if objective == "multiclass" else 0
        return np.empty((0, width)) if width else np.empty(0)
    return np.asarray(model.booster.predict(X, num_iteration=model.best_iteration),
                      dtype=np.float64)


def predict_defection(model: TrainedModel, X: pd.DataFrame) -> np.ndarray:
    """Raw (uncalibrated) defection probabilities of the rows of ``X``.

    Parameters
    ----------
    model
        From :func:`train_defection`.
    X
        Design matrix with the model's columns.

    Returns
    -------
    numpy.ndarray of shape (len(X),)
        Probabilities, from the first ``model.best_iteration`` rounds.
    """
    return _raw_predict(model, X, "binary")


def predict_transition(
    model: TrainedModel,
    X: pd.DataFrame,
    *,
    absent_probability: float = ABSENT_CLASS_PROBABILITY,
) -> pd.DataFrame:
    """Probabilities of each next stage for the rows of ``X``.

    Parameters
    ----------
    model
        From :func:`train_transition`.
    X
        Design matrix with the model's columns.
    absent_probability
        Probability of each class that did not occur in training, before the
        rows are renormalised to sum to 1.

    Returns
    -------
    pandas.DataFrame
        Index of ``X``; one ``float64`` column per class of ``model.classes``,
        in that order; each row sums to 1.
    """
    if not 0 <= absent_probability < 1:
        raise ValueError(f"absent_probability must be in [0, 1), got {absent_probability}")
    raw = _raw_predict(model, X, "multiclass")
    if raw.ndim == 1:  # LightGBM returns a flat array for a single row of 2 classes
        raw = raw.reshape(len(X), -1)
    out = np.full((len(X), len(model.classes)), absent_probability, dtype=np.float64)
    out[:, [model.classes.index(c) for c in model.trained_classes]] = raw
    out /= out.sum(axis=1, keepdims=True) if len(X) else 1.0
    return pd.DataFrame(out, index=X.index, columns=list(model.classes))


def predict_value(model: TrainedModel, X: pd.DataFrame) -> np.ndarray:
    """Expected spend in the horizon for the rows of ``X``.

    Parameters
    ----------
    model
        From :func:`train_value`.
    X
        Design matrix with the model's columns.

    Returns
    -------
    numpy.ndarray of shape (len(X),)
        Non-negative expected spend, from the first ``model.best_iteration`` rounds.
    """
    # The log link makes exp(raw score) > 0 already; the floor states the contract.
    return np.maximum(_raw_predict(model, X, "tweedie"), 0.0)
