"""Each action's effect per customer, learned from past retention contacts (a T-learner).

Where the interactions hold past ``retention_contact`` records with a random control
group (customers chosen for the action and held out), the effect of an action on a
customer is estimated by two models of the outcome the action moves, one fitted on the
contacted customers and one on the controls (the "two models" or T-learner of Künzel
et al., 2019), both LightGBM on the design matrix of the defection model:

* an action on **defection** (``protect``, ``re_engineer``, ``regain``): the defection
  probability of the horizon with and without the contact, ``p_t(x)`` and ``p_c(x)``;
  the effect is the share of it removed, ``1 - p_t / p_c`` (``relative``), or
  ``p_c - p_t`` (``absolute``), as the action's economics read it;
* an action on **spend** (``start``, ``enhance``): the spend of the horizon, ``v_t(x)``
  and ``v_c(x)``; the effect is the lift ``v_t / v_c - 1`` (``relative``) or
  ``v_t - v_c`` (``absolute``).

An action is learned when both groups hold at least ``min_rows`` rows (and, on
defection, ``min_outcomes`` of each outcome); the others keep the prior of their
economics. The estimates are clipped to the ranges the economics accept.

Data contract: :func:`contact_rows` marks the labelled rows of a training frame (one per
customer and cutoff) whose customer was chosen for an action at that cutoff: the
contact records are matched to the latest cutoff at or before them, within
``within_days`` (the features of the cutoff see only events before it; the label window
starts at it). :func:`fit_effects` takes those rows' design matrix, action, group and
outcomes; :meth:`ContactEffects.effects` gives, for any design matrix, action -> effect
per row (read as the scorer's economics read the action's effect), the ``effects``
argument of :func:`models.economics.decide`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.economics import Economics
from models.fitted import _design
from models.hashing import stable_share
from models.lgbm import (
    LightGBMParams,
    TrainedModel,
    predict_defection,
    predict_value,
    train_defection,
    train_value,
)

__all__ = ["ActionEffect", "ContactEffects", "contact_rows", "describe",
           "fit_effects", "learn_effects", "sources"]

#: Share of the customers whose rows stop the boosting of both models of an action.
STOP_SHARE = 0.3
#: Bounds of a learned effect: a share of the defection probability removed stays below
#: 1 (a contact never makes defection impossible) and a lift of spend above -1.
EFFECT_BOUNDS = {"defection": (-1.0, 0.95), "spend": (-0.95, 5.0)}


def sources(effects: ContactEffects | None, economics: Economics) -> dict[str, str]:
    """Action -> ``learned`` or ``prior``, for every action of ``economics`` (every one a
    prior without learned effects)."""
    return (effects.sources(economics) if effects is not None
            else dict.fromkeys(sorted(economics.actions), "prior"))


def describe(effects: ContactEffects | None, economics: Economics) -> str:
    """One line: which actions' effects are learned from past contacts, which assumed."""
    sources_ = sources(effects, economics)
    learned = [a for a, s in sources_.items() if s == "learned"]
    assumed = [a for a, s in sources_.items() if s != "learned"]
    if not learned:
        return "assumed (the priors of score.economics.actions)"
    text = f"learned from past contacts: {', '.join(learned)}"
    return text + (f"; assumed (the priors of score.economics.actions): {', '.join(assumed)}"
                   if assumed else "")


def contact_rows(frame: pd.DataFrame, contacts: pd.DataFrame, *,
                 within_days: int) -> pd.DataFrame:
    """The action and group of every row of ``frame`` whose customer was chosen for a
    retention contact at the row's cutoff.

    Parameters
    ----------
    frame
        Rows with ``customer_id`` and ``cutoff`` (dates), one per customer and cutoff.
    contacts
        Contact records: ``customer_id``, ``timestamp``, ``action`` and ``control``
        (True: chosen and held out; null counts as False).
    within_days
        A contact belongs to the latest cutoff at or before it that is at most this
        many days earlier; later contacts belong to no cutoff.

    Returns
    -------
    pandas.DataFrame
        On the index of ``frame``: ``contact_action`` (string, NA for a row without a
        contact) and ``contact_control`` (boolean, NA likewise). A customer chosen
        twice for one cutoff keeps the first record.
    """
    out = pd.DataFrame({"contact_action": pd.Series(pd.NA, index=frame.index, dtype="string"),
                        "contact_control": pd.Series(pd.NA, index=frame.index,
                                                     dtype="boolean")})
    if contacts.empty or frame.empty:
        return out
    cutoffs = np.sort(pd.to_datetime(frame["cutoff"]).dt.normalize().unique())
    when = pd.to_datetime(contacts["timestamp"]).to_numpy()
    at = np.searchsorted(cutoffs, when, side="right") - 1
    ok = at >= 0
    cutoff = np.where(ok, cutoffs[np.maximum(at, 0)], np.datetime64("NaT"))
    ok &= (when - cutoff) <= np.timedelta64(int(within_days), "D")
    found = pd.DataFrame({
        "customer_id": contacts["customer_id"].astype(str).to_numpy()[ok],
        "cutoff": cutoff[ok],
        "contact_action": contacts["action"].astype("string").to_numpy()[ok],
        "contact_control": contacts["control"].astype("boolean").fillna(False).to_numpy()[ok],
        "when": when[ok],
    }).sort_values(["customer_id", "cutoff", "when"], kind="stable")
    found = found.drop_duplicates(["customer_id", "cutoff"]).drop(columns="when")
    keys = pd.DataFrame({"customer_id": frame["customer_id"].astype(str).to_numpy(),
                         "cutoff": pd.to_datetime(frame["cutoff"]).dt.normalize().to_numpy()})
    joined = keys.merge(found, how="left", on=["customer_id", "cutoff"], validate="one_to_one")
    out["contact_action"] = joined["contact_action"].astype("string").to_numpy()
    out["contact_control"] = joined["contact_control"].astype("boolean").to_numpy()
    return out


@dataclass
class ActionEffect:
    """The two outcome models of one action: with and without the contact."""

    action: str
    effect_on: str
    treated: TrainedModel
    control: TrainedModel
    n_treated: int
    n_control: int

    def outcomes(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The outcome with and without the contact (probability of defection, or
        spend) for the rows of ``X``."""
        predict = predict_defection if self.effect_on == "defection" else predict_value
        return predict(self.treated, X), predict(self.control, X)

    def effect(self, X: pd.DataFrame, effect_kind: str = "relative") -> np.ndarray:
        """The effect per row, ``relative`` or ``absolute`` (module docstring)."""
        with_contact, without = self.outcomes(X)
        if effect_kind == "relative":
            ratio = with_contact / np.maximum(without, 1e-6)
            e = 1.0 - ratio if self.effect_on == "defection" else ratio - 1.0
        else:
            e = without - with_contact if self.effect_on == "defection" else with_contact - without
        if self.effect_on == "defection" or effect_kind == "relative":
            lo, hi = EFFECT_BOUNDS[self.effect_on]
            e = np.clip(e, lo, hi)
        return e


@dataclass
class ContactEffects:
    """The learned effects (action -> :class:`ActionEffect`) and, for every action of the
    economics that is not learned, why (its prior stays)."""

    learned: dict[str, ActionEffect] = field(default_factory=dict)
    assumed: dict[str, str] = field(default_factory=dict)

    def effects(self, X: pd.DataFrame, economics: Economics) -> dict[str, np.ndarray]:
        """Action -> learned effect per row of ``X``, read as ``economics`` reads the
        action's effect; an action learned on another outcome than the one its
        economics now name keeps its prior."""
        out = {}
        for action, model in self.learned.items():
            econ = economics.actions.get(action)
            if econ is not None and econ.effect_on == model.effect_on:
                out[action] = model.effect(X, econ.effect_kind)
        return out

    def sources(self, economics: Economics) -> dict[str, str]:
        """Action -> ``learned`` or ``prior``, for every action of ``economics``."""
        return {action: ("learned" if action in self.learned
                         and self.learned[action].effect_on == econ.effect_on else "prior")
                for action, econ in sorted(economics.actions.items())}

    def restricted(self, keep: Any, why: Mapping[str, str]) -> ContactEffects:
        """A copy that learns only the actions of ``keep``; each other learned action
        keeps its prior, with ``why[action]`` as the reason."""
        keep = set(keep)
        return ContactEffects(
            learned={a: m for a, m in self.learned.items() if a in keep},
            assumed=self.assumed | {a: why.get(a, "learned, not used: not tested")
                                    for a in self.learned if a not in keep})

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per action, learned (with the rows of each group) or assumed."""
        out: dict[str, Any] = {a: {"source": "learned", "effect_on": m.effect_on,
                                   "treated": m.n_treated, "control": m.n_control}
                               for a, m in self.learned.items()}
        out |= {a: {"source": "prior", "why": why} for a, why in self.assumed.items()}
        return dict(sorted(out.items()))


def _uplift_params(params: LightGBMParams) -> LightGBMParams:
    # The groups hold thousands of rows, not hundreds of thousands: smaller trees.
    return params.model_copy(update={"num_leaves": min(params.num_leaves, 15),
                                     "min_child_samples": max(params.min_child_samples, 100)})


def fit_effects(X: pd.DataFrame, rows: pd.DataFrame, economics: Economics, *,
                lightgbm: LightGBMParams, min_rows: int = 200,
                min_outcomes: int = 20) -> ContactEffects:
    """Fit the two models of every action of ``economics`` that the contacts allow.

    Parameters
    ----------
    X
        Design matrix of the contacted and control rows (those with a
        ``contact_action``), on the index of ``rows``.
    rows
        ``customer_id``, ``contact_action``, ``contact_control``, ``defected`` (null for
        a prospect) and ``future_spend``.
    economics
        Which actions exist, what each moves and how its effect is read.
    lightgbm
        Hyper-parameters (the trees are kept small: at most 15 leaves, leaves of at
        least 100 rows).
    min_rows, min_outcomes
        The least rows of each group, and on defection the least rows of each outcome
        in each group, to learn an action.

    Returns
    -------
    ContactEffects
        Reproducible: the stop rows are a stable hash split of the customers.
    """
    if not X.index.equals(rows.index):
        raise ValueError("fit_effects: X and rows must share one index")
    params = _uplift_params(lightgbm)
    result = ContactEffects()
    action = rows["contact_action"].astype("string")
    control = rows["contact_control"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    stop = stable_share(rows["customer_id"].astype(str), STOP_SHARE, "uplift")
    for name, econ in sorted(economics.actions.items()):
        mine = (action == name).fillna(False).to_numpy(dtype=bool)
        if econ.effect_on == "defection":
            mine = mine & rows["defected"].notna().to_numpy()
            y = rows["defected"].to_numpy()
        else:
            y = rows["future_spend"].to_numpy(dtype=np.float64)
        groups = {"treated": mine & ~control, "control": mine & control}
        why = _too_few(groups, y, econ.effect_on, stop, min_rows, min_outcomes)
        if why:
            result.assumed[name] = why
            continue
        fitted = {}
        for group, members in groups.items():
            fit, held = members & ~stop, members & stop
            if econ.effect_on == "defection":
                fitted[group] = train_defection(X[fit], y[fit].astype(bool), X[held],
                                                y[held].astype(bool), params)
            else:
                fitted[group] = train_value(X[fit], y[fit], X[held], y[held], params)
        result.learned[name] = ActionEffect(
            name, econ.effect_on, fitted["treated"], fitted["control"],
            int(groups["treated"].sum()), int(groups["control"].sum()))
    return result


def _too_few(groups: Mapping[str, np.ndarray], y: np.ndarray, effect_on: str,
             stop: np.ndarray, min_rows: int, min_outcomes: int) -> str | None:
    """Why an action cannot be learned from these groups, or None."""
    for group, members in groups.items():
        if members.sum() < min_rows:
            return (f"{int(members.sum())} {group} rows in the contact history, "
                    f"fewer than {min_rows}")
        if effect_on != "defection":
            continue
        for part, where in (("fitting", members & ~stop), ("early-stopping", members & stop)):
            defected = int(y[where].astype(bool).sum())
            stayed = int(where.sum()) - defected
            if min(defected, stayed) < min_outcomes:
                return (f"the {group} rows of the {part} part hold {defected} defected and "
                        f"{stayed} retained customers, fewer than {min_outcomes} of one")
    return None


def learn_effects(frame: pd.DataFrame, held_out: Mapping[str, Any], deployed: Mapping[str, Any],
                  economics: Economics, *, lightgbm: LightGBMParams, horizon_days: int,
                  min_rows: int = 200, min_outcomes: int = 20,
                  ) -> tuple[ContactEffects | None, ContactEffects | None, dict[str, Any]]:
    """The effects of the actions for the held-out and the deployed models.

    The held-out effects learn from the contacts at the cutoffs before the test snapshot
    (the evaluation validates them on those at it, :mod:`models.uplift_checks`); the
    deployed effects learn from every contact, like the refitted models that score.
    Each reads the design matrix of its own bundle.

    Parameters
    ----------
    frame
        The training frame with ``contact_action`` and ``contact_control``
        (:func:`contact_rows`) and ``split``.
    held_out, deployed
        The fitted bundles of :func:`models.train.fit_models` and
        :func:`models.train.refit_models`.

    Returns
    -------
    held_out_effects, deployed_effects : ContactEffects or None
        None when the frame holds no contact.
    summary : dict
        JSON-ready: the contact rows, per action learned or assumed (and why).
    """
    contacted = frame["contact_action"].notna().to_numpy()
    if not contacted.any():
        return None, None, {"contacts": 0, "actions": {a: {"source": "prior",
                                                           "why": "no past contact"}
                                                       for a in sorted(economics.actions)}}
    rows = frame[contacted]
    test = (rows["split"] == "test").to_numpy()
    kwargs = {"lightgbm": lightgbm, "min_rows": min_rows, "min_outcomes": min_outcomes}
    _, X = _design(held_out, rows, horizon_days)
    X.index = rows.index
    before = fit_effects(X[~test], rows[~test], economics, **kwargs)
    _, X_all = _design(deployed, rows, horizon_days)
    X_all.index = rows.index
    after = fit_effects(X_all, rows, economics, **kwargs)
    summary = {"contacts": int(contacted.sum()),
               "control": int(rows["contact_control"].fillna(False).astype(bool).sum()),
               "actions": after.summary(), "held_out_actions": before.summary()}
    return before, after, summary
