"""The LightGBM hyper-parameters shared by the three models: the declaration of
``train.lightgbm`` in ``params.yaml`` (no LightGBM import, so that reading params
stays light)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt


class LightGBMParams(BaseModel):
    """Hyper-parameters shared by the three models.

    The defaults suit a few hundred thousand training rows: a small learning
    rate with many rounds and early stopping, leaves of at least 50 rows so
    that no split follows a handful of customers, and row and feature
    subsampling for variance. The declaration of ``train.lightgbm`` in
    ``params.yaml``.

    Parameters
    ----------
    learning_rate
        Shrinkage of each tree, in ``(0, 1]``.
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

    Raises
    ------
    pydantic.ValidationError
        (a ``ValueError``) naming the field, when a value is not a number of
        the field's kind (a whole number for counts) or out of range.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    learning_rate: StrictFloat = Field(default=0.05, gt=0, le=1)
    num_leaves: StrictInt = Field(default=31, ge=2)
    min_child_samples: StrictInt = Field(default=50, ge=1)
    feature_fraction: StrictFloat = Field(default=0.8, gt=0, le=1)
    bagging_fraction: StrictFloat = Field(default=0.8, gt=0, le=1)
    bagging_freq: StrictInt = Field(default=1, ge=0)
    lambda_l2: StrictFloat = Field(default=1.0, ge=0)
    num_boost_round: StrictInt = Field(default=2000, ge=1)
    early_stopping_rounds: StrictInt = Field(default=100, ge=1)
    seed: StrictInt = 42
    num_threads: StrictInt = Field(default=2, ge=1)

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
