"""The three LightGBM models: defection, stage transition and future value.

Every model reads a design matrix of :mod:`models.design` (numeric inputs as
``float64``, categorical inputs as pandas ``Categorical`` with fixed
categories), built alike for training, early-stopping and scoring rows.

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

One piece: the three models share their hyper-parameters (:class:`LightGBMParams`),
their record (:class:`TrainedModel`), the checks of their design matrices and
targets and one fitting routine; the objective of a model decides both how it is
trained and how its raw output is read, so training and prediction change together.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.design import _category_list
from models.lgbm_params import LightGBMParams
from models.stages import STAGES

__all__ = [
    "ABSENT_CLASS_PROBABILITY",
    "LightGBMParams",
    "TrainedModel",
    "predict_defection",
    "predict_transition",
    "predict_value",
    "train_defection",
    "train_transition",
    "train_value",
]

#: Probability given to a class that never occurred in the training labels.
ABSENT_CLASS_PROBABILITY = 1e-6

#: Variance power of the Tweedie objective of the value model (see :func:`train_value`).
TWEEDIE_VARIANCE_POWER = 1.5


# --------------------------------------------------------------------------
# The trained model
# --------------------------------------------------------------------------


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


def _trained_classes(codes: np.ndarray,
                     classes: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """The classes that occur in ``codes`` (positions in ``classes``), and the map from
    a position in ``classes`` to the booster's class index (-1 for absent classes)."""
    present = np.unique(codes)
    remap = np.full(len(classes), -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    return tuple(classes[i] for i in present), remap


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
        Design matrices (:func:`~models.design.design_matrix`) of the training
        rows and of the early-stopping rows, with the same columns and dtypes.
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
    trained, remap = _trained_classes(codes_tr, classes)
    if len(trained) < 2:
        raise ValueError(f"y_train has {len(trained)} class(es) of {list(classes)}; "
                         "the transition model needs at least two")
    keep = remap[codes_st] >= 0
    if not keep.any():
        raise ValueError(f"no stop row has a class seen in training ({list(trained)})")
    X_st = X_stop[keep] if not keep.all() else X_stop
    booster, best, score, curve = _fit(
        X_train, remap[codes_tr].astype(np.float64), X_st, remap[codes_st[keep]].astype(np.float64),
        params, {"objective": "multiclass", "num_class": len(trained)}, "multi_logloss",
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


def refit(model: TrainedModel, X: pd.DataFrame, y: Any,
          params: LightGBMParams | None = None) -> TrainedModel:
    """The same model trained again on other rows, for the rounds early stopping chose.

    What scores is trained on every labelled row, the latest included, after the
    model was chosen and its rounds fixed on held-out rows: there is no stop set
    left, so the booster runs ``model.best_iteration`` rounds, with the same
    objective, hyper-parameters and features.

    Parameters
    ----------
    model
        The model trained with early stopping (:func:`train_defection`,
        :func:`train_transition` or :func:`train_value`).
    X, y
        Design matrix (the columns of ``model.feature_names``) and target of the rows.
    params
        Hyper-parameters (those ``model`` was trained with); ``num_boost_round`` and
        ``early_stopping_rounds`` are not used.

    Returns
    -------
    TrainedModel
        With ``best_iteration`` and ``best_score`` of ``model`` (the rounds and the
        held-out score that chose them) and no history.
    """
    params = params or LightGBMParams()
    _check_design(X, "X")
    if tuple(X.columns) != tuple(model.feature_names):
        raise ValueError("X has other columns than the model: "
                         f"{sorted(set(X.columns) ^ set(model.feature_names)) or 'order differs'}")
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    trained = model.trained_classes
    if model.objective == "binary":
        target, objective = _binary(y, len(X), "y"), {"objective": "binary"}
    elif model.objective == "tweedie":
        target = _nonnegative(y, len(X), "y")
        objective = {"objective": "tweedie", "tweedie_variance_power": TWEEDIE_VARIANCE_POWER}
    elif model.objective == "multiclass":
        codes = _encode(y, len(X), model.classes, "y")
        trained, remap = _trained_classes(codes, model.classes)
        target = remap[codes].astype(np.float64)
        objective = {"objective": "multiclass", "num_class": len(trained)}
    else:
        raise ValueError(f"cannot refit a model with objective {model.objective!r}")
    data = lgb.Dataset(X, label=target, categorical_feature=categorical, free_raw_data=True)
    booster = lgb.train({**params.booster_params(), **objective, "metric": model.metric}, data,
                        num_boost_round=int(model.best_iteration))
    return TrainedModel(booster, int(model.best_iteration), float(model.best_score),
                        tuple(X.columns), model.objective, model.metric, classes=model.classes,
                        trained_classes=trained)


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
