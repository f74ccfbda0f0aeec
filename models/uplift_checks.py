"""Whether the learned effects of past contacts may decide: measured out of time.

The effects of :mod:`models.uplift` learned from the contacts before the test snapshot
are judged on the contacts at it, customers whose outcome the models never saw:
:func:`validate_effects` gives each action's Qini coefficient with its bootstrap
interval, the uplift among the top 30% and the observed against the predicted effect,
and the Qini curve; :func:`validated` keeps the actions whose effect orders those
customers better than a random order beyond sampling noise. The others keep their
priors (:meth:`models.uplift.ContactEffects.restricted`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from models.economics import Economics
from models.qini import qini_coefficient, qini_interval, qini_points, uplift_at_k
from models.uplift import ContactEffects

__all__ = ["CURVE_COLUMNS", "empty_curves", "gate", "validate_effects", "validated"]

#: The columns of the Qini curve table of :func:`validate_effects`.
CURVE_COLUMNS = ("action", "share", "qini", "random")


def empty_curves() -> pd.DataFrame:
    """The Qini curve table without a row (no learned effect, or no held-out contact)."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in CURVE_COLUMNS})


def _gain(rows: pd.DataFrame, effect_on: str) -> np.ndarray:
    """The outcome an action should raise: staying (1 - defected), or the spend."""
    if effect_on == "defection":
        return 1.0 - rows["defected"].astype(float).to_numpy()
    return rows["future_spend"].to_numpy(dtype=np.float64)


def validate_effects(effects: ContactEffects, X: pd.DataFrame, rows: pd.DataFrame,
                     economics: Economics) -> tuple[dict[str, Any], pd.DataFrame]:
    """How the learned effects order held-out contacts (out of time: contacts at cutoffs
    the models did not see), per learned action.

    Parameters
    ----------
    effects
        Learned on earlier cutoffs.
    X, rows
        Design matrix and rows (``contact_action``, ``contact_control``, ``defected``,
        ``future_spend``) of the held-out contacted and control customers, one index.
    economics
        How each action's effect is read.

    Returns
    -------
    report : dict
        Action -> ``treated``, ``control`` (rows), ``qini`` (:func:`models.qini.
        qini_coefficient` of the predicted effect on the gain: staying, or the spend) with
        ``qini_low`` and ``qini_high`` (its 95% bootstrap interval),
        ``uplift_at_30``, ``observed_gain`` (mean gain of the treated minus the
        controls') and ``mean_predicted_effect``; ``qini`` is None for an action
        without held-out rows of both groups.
    curves : pandas.DataFrame
        ``action``, ``share``, ``qini``, ``random`` (:func:`models.qini.qini_points`).
    """
    out: dict[str, Any] = {}
    curves = []
    control = rows["contact_control"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    for action, e in effects.effects(X, economics).items():
        model = effects.learned[action]
        mine = (rows["contact_action"] == action).fillna(False).to_numpy(dtype=bool)
        if model.effect_on == "defection":
            mine = mine & rows["defected"].notna().to_numpy()
        treated = ~control[mine]
        report: dict[str, Any] = {"treated": int(treated.sum()),
                                  "control": int((~treated).sum()), "qini": None}
        if treated.any() and (~treated).any():
            gain = _gain(rows[mine], model.effect_on)
            low, high = qini_interval(gain, e[mine], treated)
            report |= {
                "qini": qini_coefficient(gain, e[mine], treated),
                "qini_low": low, "qini_high": high,
                "uplift_at_30": uplift_at_k(gain, e[mine], treated, k=0.3),
                "observed_gain": float(gain[treated].mean() - gain[~treated].mean()),
                "mean_predicted_effect": float(np.mean(e[mine]))}
            curves.append(qini_points(gain, e[mine], treated).assign(action=action))
        out[action] = report
    table = (pd.concat(curves, ignore_index=True)[list(CURVE_COLUMNS)] if curves
             else empty_curves())
    return out, table


def validated(report: Mapping[str, Any]) -> tuple[set[str], dict[str, str]]:
    """The actions whose learned effect orders the held-out contacts better than a random
    order beyond sampling noise (the lower end of the Qini interval above 0), and why
    each other one is not used."""
    keep, why = set(), {}
    for action, got in report.items():
        if got.get("qini_low") is not None and got["qini_low"] > 0:
            keep.add(action)
        elif got.get("qini") is None:
            why[action] = "learned, not used: no held-out contact of both groups to test it"
        else:
            why[action] = (f"learned, not used: on the test snapshot's contacts its Qini "
                           f"coefficient {got['qini']:+.4g} [{got['qini_low']:+.4g}, "
                           f"{got['qini_high']:+.4g}] is not above a random order's (0)")
    return keep, why


def gate(fitted: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """``fitted`` whose learned effects keep only the actions :func:`validated` passes on
    ``report`` (the others back to their priors, with the reason)."""
    learned = fitted.get("effects")
    if learned is None:
        return dict(fitted)
    keep, why = validated(report)
    return {**fitted, "effects": learned.restricted(keep, why)}
