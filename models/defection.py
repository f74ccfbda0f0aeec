"""The defection model: candidates, the choice among them, and the log-odds it scores with.

A customer's log-odds of defection (no purchase in the horizon) is

    offset_weight * logistic(rows) + booster_weight * booster(X)

where ``logistic`` is a :class:`BTYDLogistic` (a logistic model on the repeat-buying
summary of each customer and the BG/NBD and Pareto/NBD probabilities of no purchase,
or one of those two models as it is) and ``booster`` the LightGBM defection model of
:mod:`models.lgbm` on the design matrix. :data:`CANDIDATES` lists the
combinations :func:`models.train.fit_models` trains; :func:`choose` picks one on the
validation rows; :class:`DefectionChoice` records it in the fitted bundle.

The candidates come in an order of preference, the simplest first, and the choice
follows the one-standard-error rule (Hastie, Tibshirani and Friedman, *The Elements
of Statistical Learning*, 7.10): the first candidate whose validation ROC-AUC is
within one standard error (paired bootstrap) of the best. On a few thousand
customers a booster's small validation edge is mostly noise and does not survive to
the scoring date; on a large log with rich interactions it is real and wins.

Data contract: ``rows`` are feature-table rows (:func:`features.spec.feature_table`)
with ``frequency``, ``recency_days`` and ``days_since_first_purchase``; rows without a
purchase (prospects, for whom defection has no meaning) get the log-odds of the
training buyers' defection rate from the logistic part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from models.bgnbd_features import BGNBDBaseline
from models.comparison import paired_bootstrap_auc_diff
from models.contributions import BIAS_COLUMN, contributions, reason_groups
from models.hashing import stable_share
from models.lgbm import TrainedModel, predict_defection
from models.paretonbd_baseline import ParetoNBDBaseline

__all__ = [
    "CANDIDATES",
    "LOGISTIC_INPUTS",
    "BTYDLogistic",
    "DefectionChoice",
    "choose",
    "combine",
    "defection_probability",
    "grouped_contributions",
    "logit",
]

#: Inputs of the logistic candidate: the repeat-buying summary (log1p of the days
#: since the last purchase, the number of purchases and the days since the first)
#: and the log-odds of the two BTYD models' probability of no purchase in the horizon.
LOGISTIC_INPUTS = ("recency_days", "frequency", "days_since_first_purchase",
                   "bgnbd_p_no_purchase", "paretonbd_p_no_purchase")
_BTYD = {"bgnbd_p_no_purchase": BGNBDBaseline, "paretonbd_p_no_purchase": ParetoNBDBaseline}

#: The candidates, in order of preference (simplest first): name -> (the logistic
#: part's inputs or None, whether its coefficients are fitted, the booster used or
#: None, the weights of the logistic part and the booster). ``blend`` averages the
#: log-odds of ``logistic_btyd`` and of the better booster on validation.
CANDIDATES: Mapping[str, dict[str, Any]] = {
    "logistic_btyd": {"inputs": LOGISTIC_INPUTS, "fitted": True, "booster": None},
    "paretonbd": {"inputs": ("paretonbd_p_no_purchase",), "fitted": False, "booster": None},
    "bgnbd": {"inputs": ("bgnbd_p_no_purchase",), "fitted": False, "booster": None},
    "lightgbm": {"inputs": None, "fitted": False, "booster": "without"},
    "lightgbm_btyd": {"inputs": None, "fitted": False, "booster": "with"},
    "blend": {"inputs": LOGISTIC_INPUTS, "fitted": True, "booster": "best"},
}

_EPS = 1e-6


def logit(p: Any) -> np.ndarray:
    """Log-odds of probabilities, clipped to ``[1e-6, 1 - 1e-6]``."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------
# The logistic part
# --------------------------------------------------------------------------


class BTYDLogistic(BaseEstimator):
    """Logistic regression of defection on a customer's repeat-buying summary.

    Parameters
    ----------
    horizon_days : float, default=90
        The label horizon: the BTYD inputs are probabilities of no purchase over it.
    inputs : tuple of str, default=LOGISTIC_INPUTS
        Names among :data:`LOGISTIC_INPUTS`.
    fit_coefficients : bool, default=True
        False: the log-odds are those of the single BTYD input as it is (the BTYD
        model itself, no coefficient learned from the labels).
    C : float, default=1.0
        Inverse L2 strength of :class:`sklearn.linear_model.LogisticRegression`, on
        standardised inputs.
    btyd_rows : {"latest", "all"}, default="latest"
        The buyer rows the BTYD models are fitted on: those of the latest cutoff among
        the training rows (the population as it is nearest the scoring date: a cohort's
        purchase rates and lifetimes drift as it ages), or every cutoff pooled.
    max_fit_rows : int, default=20000
        The BTYD models are fitted on at most this many of those rows, a stable hash
        sample of (customer, cutoff) when there are more: four parameters are well
        determined by far fewer, and a Pareto/NBD fit costs about 0.2 CPU-s per
        thousand rows.

    Attributes
    ----------
    btyd_ : dict
        Input name -> the fitted :class:`~models.bgnbd_features.BGNBDBaseline` or
        :class:`~models.paretonbd_baseline.ParetoNBDBaseline` (fitted on the buyers
        among the training rows that ``btyd_rows`` names).
    mean_, scale_ : numpy.ndarray
        Standardisation of the transformed inputs (training buyers).
    coef_, intercept_ : numpy.ndarray, float
        Of the standardised inputs.
    base_logodds_ : float
        Log-odds of the training buyers' defection rate: the value of non-buyers.
    """

    def __init__(self, *, horizon_days: float = 90, inputs: Sequence[str] = LOGISTIC_INPUTS,
                 fit_coefficients: bool = True, C: float = 1.0,
                 btyd_rows: Literal["latest", "all"] = "latest",
                 max_fit_rows: int = 20_000) -> None:
        self.horizon_days = horizon_days
        self.inputs = inputs
        self.fit_coefficients = fit_coefficients
        self.C = C
        self.btyd_rows = btyd_rows
        self.max_fit_rows = max_fit_rows

    def _check(self) -> tuple[str, ...]:
        inputs = tuple(self.inputs)
        unknown = [n for n in inputs if n not in LOGISTIC_INPUTS]
        if not inputs or unknown:
            raise ValueError(f"BTYDLogistic: inputs must be names among {LOGISTIC_INPUTS}; "
                             f"got {inputs}")
        if self.btyd_rows not in ("latest", "all"):
            raise ValueError("BTYDLogistic: btyd_rows must be 'latest' or 'all'; got "
                             f"{self.btyd_rows!r}")
        if not self.fit_coefficients and (len(inputs) != 1 or inputs[0] not in _BTYD):
            raise ValueError("BTYDLogistic: without fitted coefficients the input must be one "
                             f"BTYD probability ({tuple(_BTYD)}); got {inputs}")
        return inputs

    def fit(self, rows: pd.DataFrame, y: Any,
            btyd: Mapping[str, Any] | None = None) -> BTYDLogistic:
        """Fit on the buyers among ``rows`` (``frequency > 0``) and their labels ``y``.

        ``btyd``, when given, holds BTYD models already fitted on these rows (the
        :attr:`btyd_` of another instance), used instead of fitting them again.
        """
        inputs = self._check()
        buyer = rows["frequency"].to_numpy(dtype=np.float64) > 0
        target = np.asarray(y, dtype=bool)[buyer]
        if target.size == 0 or np.unique(target).size < 2:
            raise ValueError("BTYDLogistic.fit: the buyers need both defected and retained "
                             "customers")
        bought = rows[buyer]
        sample = bought
        if self.btyd_rows == "latest":
            cutoffs = pd.to_datetime(bought["cutoff"])
            sample = bought[(cutoffs == cutoffs.max()).to_numpy()]
        if len(sample) > self.max_fit_rows:
            keys = sample["customer_id"].astype(str) + "|" + sample["cutoff"].astype(str)
            sample = sample[stable_share(keys, self.max_fit_rows / len(sample), salt="btyd")]
        self.btyd_ = {name: (btyd[name] if btyd and name in btyd
                             else cls(horizon_days=self.horizon_days).fit(sample))
                      for name, cls in _BTYD.items() if name in inputs}
        Z = self._inputs(bought)
        rate = float(target.mean())
        self.base_logodds_ = float(logit(rate))
        if self.fit_coefficients:
            self.mean_, self.scale_ = Z.mean(axis=0), Z.std(axis=0)
            self.scale_[self.scale_ == 0] = 1.0
            model = LogisticRegression(C=self.C, max_iter=1000).fit(
                (Z - self.mean_) / self.scale_, target)
            self.coef_, self.intercept_ = model.coef_[0].copy(), float(model.intercept_[0])
        else:
            self.mean_, self.scale_ = np.zeros(1), np.ones(1)
            self.coef_, self.intercept_ = np.ones(1), 0.0
        self.bias_ = float(np.mean(self._terms(Z).sum(axis=1)) + self.intercept_)
        return self

    def _inputs(self, rows: pd.DataFrame) -> np.ndarray:
        """The transformed inputs of buyer rows: log1p of the counts, logit of the BTYD."""
        columns = []
        for name in self.inputs:
            if name in _BTYD:
                columns.append(logit(self.btyd_[name].predict_proba(rows)))
            else:
                columns.append(np.log1p(np.maximum(
                    rows[name].to_numpy(dtype=np.float64, na_value=np.nan), 0.0)))
        return np.column_stack(columns)

    def _terms(self, Z: np.ndarray) -> np.ndarray:
        return (Z - self.mean_) / self.scale_ * self.coef_

    def decision_function(self, rows: pd.DataFrame) -> np.ndarray:
        """Log-odds of defection of each row; :attr:`base_logodds_` for non-buyers."""
        return self.contributions(rows).sum(axis=1).to_numpy()

    def contributions(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Each input's share of the log-odds, and :data:`~models.contributions.BIAS_COLUMN`.

        Exactly additive: a row's columns sum to :meth:`decision_function`. The bias is
        the mean log-odds of the training buyers; an input's share is its term minus
        the mean of that term over them. Non-buyers have zero shares and the bias
        :attr:`base_logodds_`.
        """
        check_is_fitted(self, "coef_")
        out = np.zeros((len(rows), len(self.inputs)))
        bias = np.full(len(rows), self.base_logodds_)
        buyer = rows["frequency"].to_numpy(dtype=np.float64) > 0
        if buyer.any():
            terms = self._terms(self._inputs(rows[buyer]))
            out[buyer] = terms - (self.bias_ - self.intercept_) / terms.shape[1]
            bias[buyer] = self.bias_
        frame = pd.DataFrame(out, index=rows.index, columns=list(self.inputs))
        frame[BIAS_COLUMN] = bias
        return frame


# --------------------------------------------------------------------------
# The choice
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DefectionChoice:
    """Which candidate the defection model is, and how its parts are weighted.

    Parameters
    ----------
    candidate
        A name of :data:`CANDIDATES`.
    offset_weight, booster_weight
        Weights of the logistic part's and the booster's log-odds.
    """

    candidate: str
    offset_weight: float
    booster_weight: float

    @classmethod
    def of(cls, candidate: str) -> DefectionChoice:
        spec = CANDIDATES[candidate]
        if spec["inputs"] is None:
            return cls(candidate, 0.0, 1.0)
        return cls(candidate, 1.0, 0.0) if spec["booster"] is None else cls(candidate, 0.5, 0.5)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DefectionChoice:
        return cls(str(data["candidate"]), float(data["offset_weight"]),
                   float(data["booster_weight"]))


def combine(choice: DefectionChoice, offset: np.ndarray | None,
            booster: np.ndarray | None) -> np.ndarray:
    """Probability of defection from the two parts' log-odds, weighted by ``choice``."""
    z = 0.0
    if choice.offset_weight:
        z = z + choice.offset_weight * offset
    if choice.booster_weight:
        z = z + choice.booster_weight * booster
    return _sigmoid(np.asarray(z, dtype=np.float64))


def defection_probability(choice: DefectionChoice, offset: BTYDLogistic | None,
                          booster: TrainedModel | None, rows: pd.DataFrame,
                          X: pd.DataFrame) -> np.ndarray:
    """Uncalibrated probability of defection of feature-table ``rows`` (index reset) and
    their design matrix ``X``, from the parts of the fitted defection model."""
    return combine(choice,
                   offset.decision_function(rows) if choice.offset_weight else None,
                   logit(predict_defection(booster, X)) if choice.booster_weight else None)


def grouped_contributions(choice: DefectionChoice, offset: BTYDLogistic | None,
                          booster: TrainedModel | None, rows: pd.DataFrame, X: pd.DataFrame,
                          *, method: str = "path") -> pd.DataFrame:
    """Each reason group's share of the defection log-odds (before calibration).

    The booster's contributions (:func:`models.contributions.contributions`, by
    :func:`~models.contributions.reason_groups`) and the logistic part's
    (:meth:`BTYDLogistic.contributions`, grouped the same way), each times its weight
    in ``choice``; one column per group, then
    :data:`~models.contributions.BIAS_COLUMN`; the index of ``X``.
    """
    parts = []
    if choice.booster_weight:
        groups = reason_groups(booster.feature_names)
        parts.append(choice.booster_weight * contributions(booster, X, method=method,
                                                           groups=groups))
    if choice.offset_weight:
        shares = offset.contributions(rows.set_index(X.index))
        groups = reason_groups(list(offset.inputs))
        grouped = pd.DataFrame({key: shares[cols].sum(axis=1) for key, cols in groups.items()})
        grouped[BIAS_COLUMN] = shares[BIAS_COLUMN]
        parts.append(choice.offset_weight * grouped)
    total = parts[0] if len(parts) == 1 else parts[0].add(parts[1], fill_value=0.0)
    keys = [c for c in total.columns if c != BIAS_COLUMN]
    return total[[*keys, BIAS_COLUMN]]


def choose(y: Any, scores: Mapping[str, Any], *, n_boot: int = 500,
           seed: int = 0) -> tuple[str, dict[str, Any]]:
    """The first candidate, in the order of ``scores``, within one standard error of the best.

    Parameters
    ----------
    y
        Labels of the validation rows (both classes).
    scores
        Candidate name -> its predicted probabilities on those rows, in order of
        preference.
    n_boot, seed
        Of the paired bootstrap of each candidate's AUC difference to the best.

    Returns
    -------
    name : str
        The chosen candidate.
    table : dict
        JSON-ready: per candidate ``roc_auc``, ``diff_to_best`` and ``std_error``
        (of the paired difference), the rule, and ``order``: the names in order of
        preference (a JSON object need not keep its keys in order).
    """
    y = np.asarray(y, dtype=bool)
    auc = {name: float(roc_auc_score(y, p)) for name, p in scores.items()}
    best = max(auc, key=auc.__getitem__)
    table: dict[str, Any] = {}
    chosen = None
    for name, p in scores.items():
        if name == best:
            std = 0.0
        else:
            boot = paired_bootstrap_auc_diff(y, scores[best], p, n_boot=n_boot, seed=seed)
            std = float((boot["ci_high"] - boot["ci_low"]) / (2 * 1.959964))
        diff = auc[name] - auc[best]
        table[name] = {"roc_auc": auc[name], "diff_to_best": diff, "std_error": std}
        if chosen is None and diff >= -std:
            chosen = name
    return str(chosen), {"rule": "first within one standard error of the best validation "
                                 "ROC-AUC", "best": best, "chosen": chosen,
                         "order": list(scores), "candidates": table}
