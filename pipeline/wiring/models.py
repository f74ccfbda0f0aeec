"""Params into the settings of the models: stage rules, LightGBM, the split plan and the
promotion rule."""

from __future__ import annotations

import datetime as dt

from models.lgbm_params import LightGBMParams
from models.planner import plan_for_history
from models.promotion import PromotionRule
from models.split_plan import SplitPlan, plan_from_cutoffs
from models.stages import StageRules
from pipeline.errors import ConfigError
from pipeline.params import Params


def stage_rules(params: Params) -> StageRules:
    """The stage thresholds of params ``stages``."""
    return params.stages


def lightgbm_params(params: Params) -> LightGBMParams:
    """LightGBM hyper-parameters from params ``train.lightgbm``."""
    return params.train.lightgbm


def _at_rate(params: Params, rate: float | None) -> LightGBMParams:
    shared = params.train.lightgbm
    return shared if rate is None else shared.model_copy(update={"learning_rate": rate})


def transition_lightgbm_params(params: Params) -> LightGBMParams:
    """The transition model's hyper-parameters: ``train.lightgbm`` with
    ``train.transition_learning_rate`` when it is set."""
    return _at_rate(params, params.train.transition_learning_rate)


def value_lightgbm_params(params: Params) -> LightGBMParams:
    """The value model's hyper-parameters: ``train.lightgbm`` with
    ``train.value_learning_rate`` when it is set."""
    return _at_rate(params, params.train.value_learning_rate)


def promotion_rule(params: Params) -> PromotionRule:
    """When a challenger becomes champion (params ``evaluate.promotion``)."""
    return params.evaluate.promotion


def split_plan(params: Params, first_event: dt.date, last_event: dt.date) -> SplitPlan:
    """The plan of the features' snapshots and the labels: explicit from params
    ``labels.*_cutoffs``, else the first plan of :mod:`models.planner` that fits the data.

    Raises
    ------
    ConfigError
        If the explicit plan leaks or is not observed, or the data is too short for
        an automatic plan (the message names the dates or the days needed).
    """
    lab = params.labels
    try:
        if lab.explicit:
            return plan_from_cutoffs(lab.train_cutoffs or [], lab.validation_cutoffs or [],
                                     lab.test_cutoffs or [], horizon_days=lab.horizon_days,
                                     first_event=first_event, last_event=last_event,
                                     validation_share=lab.validation_share)
        return plan_for_history(first_event, last_event, horizon_days=lab.horizon_days,
                                frequency=params.features.snapshot_frequency,
                                min_history_days=lab.min_history_days, n_test=lab.n_test,
                                n_validation=lab.n_validation,
                                validation_share=lab.validation_share,
                                first=params.features.first_snapshot)
    except ValueError as err:
        where = ("labels.train_cutoffs / validation_cutoffs / test_cutoffs" if lab.explicit
                 else "labels (automatic split)")
        raise ConfigError(f"{where}: {err}") from None
