"""Params into the scorer bundle: the fitted models frozen with the decisions of params
(stage rules, risk bands, value tiers, action policy, reasons, drift bins,
economics of the actions)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.spec import feature_table
from models.actions import ActionPolicy
from models.scorer import Scorer
from models.value_tiers import ValueTiers
from pipeline.params import Params
from pipeline.wiring.features import feature_spec
from pipeline.wiring.models import stage_rules


def scorer(fitted: dict[str, Any], params: Params, reference: pd.DataFrame) -> Scorer:
    """The scorer bundle: the fitted models with the stage rules, risk bands, value
    tiers and action policy of params, frozen on the ``reference`` rows (the test
    snapshot: its predicted values fix the value-tier amounts and its features the
    drift reference)."""
    schema = feature_table(feature_spec(params)).dtypes
    s = params.score
    return Scorer.build(
        fitted,
        feature_schema=schema,
        reference=reference[list(schema)],
        stage_rules=stage_rules(params),
        risk_bands=s.risk_bands,
        value_tiers=ValueTiers(method=s.value_tiers.method, cuts=s.value_tiers.cuts),
        rank_prospects_separately=s.value_tiers.rank_prospects_separately,
        policy=ActionPolicy.from_rules([rule.model_dump() for rule in s.policy]),
        horizon_days=params.labels.horizon_days,
        satisfaction_scale=params.data.satisfaction_range[1],
        reason_method=s.reason_method,
        drift_bins=s.drift.bins,
        economics=s.economics,
    )
