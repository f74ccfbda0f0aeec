"""The training recipe: the defection, stage-transition and value models from a
labelled training frame.

Input: the training frame (feature-table columns of :func:`features.spec.feature_table`
plus ``split``, ``stage``, ``next_stage``, ``defected``, ``future_spend``), one row per
customer and labelled cutoff. The models train on the ``train`` rows, stop early on
one half of the ``validation`` rows' customers and calibrate the defection
probability on the other half (a stable hash split of customer ids). BG/NBD outputs,
fitted on the training rows only, are kept as inputs of the defection model when they
help on validation (or as ``bgnbd_features`` says).

:func:`refit_models` then trains the chosen models again on every labelled row, the
latest cutoff included, so that what scores has seen the latest behaviour; the
figures of the evaluation stay those of the models of :func:`fit_models` on the
held-out test snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import log_loss, roc_auc_score

from features.spec import FeatureSpec, feature_table
from models.bgnbd_features import BGNBD_FEATURES, BGNBDBaseline, with_bgnbd_features
from models.calibration import ProbabilityCalibrator, split_for_calibration
from models.defection import (
    CANDIDATES,
    BTYDLogistic,
    DefectionChoice,
    choose,
    combine,
    defection_probability,
    logit,
)
from models.design import FeatureFrame, feature_columns
from models.lgbm import (
    TrainedModel,
    predict_defection,
    refit,
    train_defection,
    train_transition,
    train_value,
)
from models.lgbm_params import LightGBMParams
from models.stages import STAGES

#: Feature families of the "RFM only" ablation model: purchases, and nothing the
#: customer said or did besides buying.
RFM_FAMILIES = ("calendar", "tenure", "rfm", "rhythm", "trend", "refunds", "rfm_score")


def _auc_logloss(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p))}


def _buyers(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["defected"].notna()]


def fit_models(frame: pd.DataFrame, *, spec: FeatureSpec, lightgbm: LightGBMParams,
               horizon_days: int, calibration_fraction: float,
               bgnbd_features: Literal["auto", "always", "never"] = "auto",
               candidates: Sequence[str] = tuple(CANDIDATES), seed: int = 0,
               transition_lightgbm: LightGBMParams | None = None,
               value_lightgbm: LightGBMParams | None = None,
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit every model on a labelled training frame.

    Parameters
    ----------
    frame
        The training frame (see the module docstring); not modified.
    spec
        The feature declaration the frame was built with.
    lightgbm
        Hyper-parameters shared by the boosters.
    horizon_days
        The label horizon (the BTYD inputs predict over it).
    calibration_fraction
        Share of the validation customers that choose the defection candidate and
        calibrate it; the rest stop the boosting.
    bgnbd_features
        Whether the transition and value models (and the booster of a candidate
        without a booster of its own) take the BG/NBD inputs: ``"auto"``, when they
        lower the defection booster's validation log loss; ``"always"`` or ``"never"``.
        ``"never"`` also leaves out the ``lightgbm_btyd`` candidate and ``"always"``
        the ``lightgbm`` one.
    candidates
        Names of :data:`models.defection.CANDIDATES`, in order of preference
        (:func:`models.defection.choose`).
    seed
        Of the paired bootstrap of the choice.
    transition_lightgbm, value_lightgbm
        Hyper-parameters of the transition and value models; None: ``lightgbm``.

    Returns
    -------
    fitted : dict
        ``defection`` (booster, or None when the chosen candidate has none),
        ``defection_offset`` (:class:`~models.defection.BTYDLogistic` or None),
        ``defection_choice``, ``defection_rfm``, ``transition``, ``value`` (boosters),
        ``calibrator``, ``bgnbd`` (or None), ``feature_frame``, ``feature_frame_rfm``.
    summary : dict
        JSON-ready decisions taken on the validation rows.
    """
    table = feature_table(spec)
    numeric, categorical = feature_columns(table.names)

    # BG/NBD outputs as candidate inputs, fitted on the training snapshots only and
    # kept only if they help on validation. Computed once, for every row.
    split = frame["split"].to_numpy()
    bgnbd = BGNBDBaseline(horizon_days=horizon_days).fit(_buyers(frame[split == "train"]))
    frame = with_bgnbd_features(frame, bgnbd, horizon_days)  # same rows, same order
    train, valid = frame[split == "train"], frame[split == "validation"]
    calib_part = split_for_calibration(valid["customer_id"], fraction=calibration_fraction)
    stop, calib = valid[~calib_part], valid[calib_part]
    summary: dict[str, Any] = {"rows": {"train": len(train), "stop": len(stop),
                                        "calibration": len(calib)}}

    frames = {"without": FeatureFrame.from_training(
        train, numeric=numeric, categorical=categorical,
        fixed_categories={"stage": STAGES})}
    frames["with"] = FeatureFrame(frames["without"].numeric + BGNBD_FEATURES,
                                  frames["without"].categorical, frames["without"].categories)
    boosters: dict[str, TrainedModel] = {}
    scores = {}
    tr, st, cb = _buyers(train), _buyers(stop), _buyers(calib)
    for name, ff in frames.items():
        model = train_defection(ff.transform(tr), tr["defected"].astype(bool),
                                ff.transform(st), st["defected"].astype(bool), lightgbm)
        boosters[name] = model
        scores[name] = _auc_logloss(st["defected"].astype(bool).to_numpy(),
                                    predict_defection(model, ff.transform(st)))
    use_bg = (scores["with"]["log_loss"] < scores["without"]["log_loss"]
              if bgnbd_features == "auto" else bgnbd_features == "always")
    summary["bgnbd_features"] = {"setting": bgnbd_features, "kept": use_bg,
                                 "validation_stop": scores}

    choice, offset, frame_key, summary["defection_choice"], p_calib = _choose_defection(
        tr, st, cb, boosters, frames, horizon_days=horizon_days, candidates=candidates,
        bgnbd_features=bgnbd_features, lightgbm=lightgbm, seed=seed)
    frame_key = frame_key or ("with" if use_bg else "without")
    ff = frames[frame_key]
    booster = boosters[frame_key] if choice.booster_weight else None

    calibrator = ProbabilityCalibrator(random_state=lightgbm.seed).fit(
        p_calib, cb["defected"].astype(bool).to_numpy())
    summary["calibration"] = {"method": calibrator.method_,
                              "cv_log_loss": calibrator.cv_log_loss_}

    # Ablation: the same model on purchase features only.
    families = {c.name: c.family for c in table.columns}
    rfm_numeric = tuple(c for c in ff.numeric if families.get(c) in RFM_FAMILIES)
    ff_rfm = FeatureFrame(rfm_numeric, ("stage",), {"stage": ff.categories["stage"]})
    defection_rfm = train_defection(ff_rfm.transform(tr), tr["defected"].astype(bool),
                                    ff_rfm.transform(st), st["defected"].astype(bool),
                                    lightgbm)

    X_train, X_stop = ff.transform(train), ff.transform(stop)
    transition = train_transition(X_train, train["next_stage"].astype(str),
                                  X_stop, stop["next_stage"].astype(str),
                                  transition_lightgbm or lightgbm, classes=STAGES)
    value = train_value(X_train, train["future_spend"].astype(float),
                        X_stop, stop["future_spend"].astype(float), value_lightgbm or lightgbm)
    for name, model in (("defection", boosters[frame_key]), ("defection_rfm", defection_rfm),
                        ("transition", transition), ("value", value)):
        summary[name] = {"best_iteration": model.best_iteration,
                         "best_score": model.best_score, "metric": model.metric}
    summary["defection"]["candidate"] = choice.candidate
    fitted = {"defection": booster, "defection_offset": offset, "defection_choice": choice,
              "defection_rfm": defection_rfm, "transition": transition,
              "value": value, "calibrator": calibrator,
              "bgnbd": bgnbd if frame_key == "with" else None,
              "feature_frame": ff, "feature_frame_rfm": ff_rfm}
    return fitted, summary


def _choose_defection(tr: pd.DataFrame, st: pd.DataFrame, cb: pd.DataFrame,
                      boosters: dict[str, TrainedModel], frames: dict[str, FeatureFrame], *,
                      horizon_days: int, candidates: Sequence[str], bgnbd_features: str,
                      lightgbm: LightGBMParams, seed: int,
                      ) -> tuple[DefectionChoice, BTYDLogistic | None, str | None,
                                 dict[str, Any], np.ndarray]:
    """The defection candidate, chosen out of time when the validation rows are not.

    When the validation customers are a share of the customers at the training cutoffs
    (the plans of short histories), the candidates are fitted again on the training
    rows whose label window ends by the latest training cutoff and compared on every
    customer at that cutoff: out of time, and five times the customers. Otherwise they
    are compared on the calibration rows ``cb``.

    Returns the choice, its logistic part fitted on ``tr``, the design-matrix key of its
    booster (None without one), the table of the choice, and the chosen model's
    probabilities on ``cb`` (to calibrate).
    """
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown or not candidates:
        raise ValueError(f"candidates must be names among {tuple(CANDIDATES)}; got "
                         f"{tuple(candidates)}")
    allowed = [c for c in candidates
               if not (c == "lightgbm_btyd" and bgnbd_features == "never")
               and not (c == "lightgbm" and bgnbd_features == "always")] or list(candidates)
    later = _out_of_time(tr, st, cb, horizon_days)
    if later is None:
        where = "the validation customers that calibrate"
        scores, _, blend_key = _logodds(tr, st, cb, frames, boosters, allowed,
                                        horizon_days, lightgbm)
        y_choose = cb["defected"].astype(bool).to_numpy()
    else:
        fit, stop, rows = later
        where = (f"every customer at the latest training cutoff "
                 f"{pd.Timestamp(rows['cutoff'].iloc[0]).date()}, the candidates fitted on "
                 "the training cutoffs whose window ends by it")
        scores, _, blend_key = _logodds(fit, stop, rows, frames, None, allowed,
                                        horizon_days, lightgbm)
        y_choose = rows["defected"].astype(bool).to_numpy()
    chosen, table = choose(y_choose, scores, seed=seed)
    table.update({"rows": where, "n_rows": int(len(y_choose)), "booster_of_blend": blend_key})
    final, offsets, _ = _logodds(tr, st, cb, frames, boosters, [chosen], horizon_days,
                                 lightgbm, blend_key=blend_key)
    key_of = {"lightgbm": "without", "lightgbm_btyd": "with", "blend": blend_key}
    return (DefectionChoice.of(chosen), offsets.get(chosen), key_of.get(chosen), table,
            1.0 / (1.0 + np.exp(-final[chosen])))


def _out_of_time(tr: pd.DataFrame, st: pd.DataFrame, cb: pd.DataFrame, horizon_days: int,
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """``(fit, stop, rows)`` for an out-of-time choice when the validation rows share the
    training cutoffs, or None (validation already out of time, or too few rows)."""
    train_cutoffs = set(pd.to_datetime(tr["cutoff"]))
    if not set(pd.to_datetime(cb["cutoff"])) <= train_cutoffs:
        return None
    latest = max(train_cutoffs)
    ends = {name: pd.to_datetime(f["cutoff"]) + pd.Timedelta(days=horizon_days)
            for name, f in (("tr", tr), ("st", st))}
    fit, stop = tr[(ends["tr"] <= latest).to_numpy()], st[(ends["st"] <= latest).to_numpy()]
    rows = tr[(pd.to_datetime(tr["cutoff"]) == latest).to_numpy()]
    for part in (fit, stop, rows):
        counts = part["defected"].astype(bool).value_counts()
        if len(counts) < 2 or counts.min() < MIN_CHOICE_ROWS:
            return None
    return fit, stop, rows


#: Fewest rows of each outcome in each part of an out-of-time choice.
MIN_CHOICE_ROWS = 20


def _logodds(fit: pd.DataFrame, stop: pd.DataFrame, rows: pd.DataFrame,
             frames: dict[str, FeatureFrame], boosters: dict[str, TrainedModel] | None,
             names: Sequence[str], horizon_days: int, lightgbm: LightGBMParams, *,
             blend_key: str | None = None,
             ) -> tuple[dict[str, np.ndarray], dict[str, BTYDLogistic], str]:
    """Log-odds on ``rows`` of the candidates ``names`` fitted on ``fit`` (the boosters
    given, or trained on ``fit`` and stopped early on ``stop``); their logistic parts;
    the booster of ``blend`` (``blend_key``, or the better one on ``rows``)."""
    y_fit = fit["defected"].astype(bool).to_numpy()
    y_rows = rows["defected"].astype(bool).to_numpy()
    key_of = {"lightgbm": "without", "lightgbm_btyd": "with"}
    needed = {key_of[n] for n in names if n in key_of} | (set(frames) if "blend" in names
                                                          else set())
    if boosters is None:
        boosters = {key: train_defection(frames[key].transform(fit), y_fit,
                                         frames[key].transform(stop),
                                         stop["defected"].astype(bool), lightgbm)
                    for key in sorted(needed)}
    booster_logodds = {key: logit(predict_defection(boosters[key], frames[key].transform(rows)))
                       for key in sorted(needed)}
    if blend_key is None:
        usable = [key_of[n] for n in names if n in key_of] or sorted(booster_logodds)
        blend_key = (max(usable, key=lambda k: roc_auc_score(y_rows, booster_logodds[k]))
                     if booster_logodds else "without")
    key_of["blend"] = blend_key
    offsets: dict[str, BTYDLogistic] = {}
    out: dict[str, np.ndarray] = {}
    fitted_btyd: dict[str, Any] = {}  # each BTYD model fitted once, shared by the candidates
    for name in names:
        spec = CANDIDATES[name]
        if spec["inputs"] is not None:
            offsets[name] = BTYDLogistic(
                horizon_days=horizon_days, inputs=spec["inputs"],
                fit_coefficients=spec["fitted"]).fit(fit, y_fit, fitted_btyd)
            fitted_btyd.update(offsets[name].btyd_)
        out[name] = logit(combine(
            DefectionChoice.of(name),
            offsets[name].decision_function(rows) if name in offsets else None,
            booster_logodds.get(key_of.get(name, ""))))
    return out, offsets, blend_key


def refit_models(frame: pd.DataFrame, fitted: dict[str, Any], *, lightgbm: LightGBMParams,
                 horizon_days: int, transition_lightgbm: LightGBMParams | None = None,
                 value_lightgbm: LightGBMParams | None = None,
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models that score: those of :func:`fit_models` trained again on every
    labelled row, the latest cutoff (the test snapshot) included.

    The rounds of each booster are those early stopping chose on the validation rows;
    the BG/NBD inputs (when kept) are fitted again on every row; the calibrator is
    fitted on the most recent labelled window, the latest cutoff, scored by the same
    defection model trained on the earlier cutoffs only (so that it calibrates
    predictions for rows it did not learn from). The ablation model is not refitted.

    Parameters
    ----------
    frame
        The training frame, every split (``split`` is not read: every row with a label
        is used); not modified.
    fitted
        The output of :func:`fit_models`.
    lightgbm, horizon_days, transition_lightgbm, value_lightgbm
        As for :func:`fit_models`.

    Returns
    -------
    deployed : dict
        The keys of ``fitted``, the refitted models in place.
    summary : dict
        JSON-ready: the cutoffs and rows the refit saw, the calibration window.
    """
    cutoffs = pd.to_datetime(frame["cutoff"]).dt.date
    latest = cutoffs.max()
    if (cutoffs < latest).sum() == 0:
        raise ValueError("refit_models needs labelled rows before the latest cutoff "
                         f"{latest} to calibrate on it")
    bgnbd = (BGNBDBaseline(horizon_days=horizon_days).fit(_buyers(frame))
             if fitted["bgnbd"] is not None else None)
    rows = with_bgnbd_features(frame, bgnbd, horizon_days)  # same rows, same order
    ff = fitted["feature_frame"]
    X = ff.transform(rows)
    buyer = rows["defected"].notna().to_numpy()
    earlier = (cutoffs < latest).to_numpy()
    y = rows["defected"].to_numpy()

    choice: DefectionChoice = fitted["defection_choice"]
    defection = before = offset = offset_before = None
    if fitted["defection"] is not None:
        defection = refit(fitted["defection"], X[buyer], y[buyer].astype(bool), lightgbm)
        before = refit(fitted["defection"], X[buyer & earlier],
                       y[buyer & earlier].astype(bool), lightgbm)
    if fitted["defection_offset"] is not None:
        offset = clone(fitted["defection_offset"]).fit(rows[buyer], y[buyer].astype(bool))
        offset_before = clone(fitted["defection_offset"]).fit(
            rows[buyer & earlier], y[buyer & earlier].astype(bool))
    window = buyer & ~earlier
    calibrator = ProbabilityCalibrator(random_state=lightgbm.seed).fit(
        defection_probability(choice, offset_before, before, rows[window], X[window]),
        y[window].astype(bool))
    transition = refit(fitted["transition"], X, rows["next_stage"].astype(str),
                       transition_lightgbm or lightgbm)
    value = refit(fitted["value"], X, rows["future_spend"].astype(float),
                  value_lightgbm or lightgbm)
    deployed = {**fitted, "defection": defection, "defection_offset": offset,
                "transition": transition, "value": value, "calibrator": calibrator,
                "bgnbd": bgnbd}
    summary = {
        "cutoffs": sorted(d.isoformat() for d in set(cutoffs)),
        "rows": int(len(rows)), "buyer_rows": int(buyer.sum()),
        "defection_candidate": choice.candidate,
        "rounds": {name: fitted[name].best_iteration
                   for name in ("defection", "transition", "value") if fitted[name] is not None},
        "calibration": {"cutoff": latest.isoformat(), "rows": int(window.sum()),
                        "method": calibrator.method_, "cv_log_loss": calibrator.cv_log_loss_},
    }
    return deployed, summary
