"""Params into the feature declaration: the full one and the one the labels need."""

from __future__ import annotations

from features.spec import FeatureSpec
from pipeline.params import Params


def feature_spec(params: Params) -> FeatureSpec:
    """The feature declaration implied by params."""
    return FeatureSpec(
        windows_days=tuple(params.features.windows_days),
        trend_days=params.features.trend_days,
        interaction_kinds=tuple(params.data.interaction_kinds),
        resolution_kinds=tuple(params.features.resolution_kinds),
    )


def label_feature_spec(params: Params) -> FeatureSpec:
    """The smallest feature declaration that yields the columns the labels read
    (:data:`models.labels.LABEL_INPUTS`).

    Those columns do not depend on windows or on interaction kinds; which customers
    have a row does not either (any interaction makes a customer known). One
    window and no resolution tracking keep the extra computation small.
    """
    return FeatureSpec(windows_days=(params.labels.horizon_days,),
                       trend_days=params.labels.horizon_days,
                       interaction_kinds=tuple(params.data.interaction_kinds),
                       resolution_kinds=())
