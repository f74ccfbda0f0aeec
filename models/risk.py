"""Risk labels: the calibrated defection probability cut into four ordered bands.

A scored customer gets a **risk label** (``low``, ``medium``, ``high``,
``critical``) from its calibrated defection probability ``p`` and the thresholds
of :class:`RiskBands` (:func:`risk_label`); a missing ``p`` gives a null (NA)
label, as for prospects, who have never bought and so have no defection
probability (see :mod:`models.actions`).

The functions here are pure: they take arrays and thresholds and return new
arrays; the scoring stage reads the thresholds from ``params.yaml``
(``score.risk_bands``) and passes them in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationInfo, field_validator

__all__ = [
    "RISK_DTYPE",
    "RISK_LABELS",
    "RiskBands",
    "risk_label",
]

#: Risk labels, from the lowest to the highest defection probability.
RISK_LABELS: tuple[str, ...] = ("low", "medium", "high", "critical")
RISK_DTYPE = pd.CategoricalDtype(list(RISK_LABELS), ordered=True)


class RiskBands(BaseModel):
    """Thresholds of the risk labels on the calibrated defection probability ``p``.

    Each field is the probability from which its label starts (``p`` below
    ``medium`` is ``low``), and a ``p`` exactly at a threshold gets the higher
    label. With the defaults::

        low: p < 0.3    medium: 0.3 <= p < 0.5    high: 0.5 <= p < 0.75    critical: 0.75 <= p

    Why these defaults: ``p`` is calibrated, so the thresholds read as odds of
    no purchase in the horizon. 0.5 and 0.75 are the band edges of published
    products ("low < 0.5 <= medium < 0.75 <= high", ``DOMAIN.md``): from 0.5
    defection is more likely than not (``high``), from 0.75 three in four such
    customers leave (``critical``). The published lowest band is split at 0.3
    because a valuable customer with a one-in-three chance of not buying is
    already worth a protective contact, well before defection is the likelier
    outcome; below 0.3 the usual rhythm of repeat buyers explains the residual
    risk.

    The declaration of ``score.risk_bands`` in ``params.yaml``.

    Parameters
    ----------
    medium, high, critical
        The probability from which each label starts; strictly increasing, each
        strictly between 0 and 1 (a band that starts at 0 or 1 would be empty or
        would swallow ``low``).

    Raises
    ------
    pydantic.ValidationError
        (a ``ValueError``) naming the field and its value, when a threshold is
        not a number in (0, 1) or the thresholds do not increase strictly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    medium: StrictFloat = Field(default=0.3, gt=0, lt=1, allow_inf_nan=False)
    # Validated also when left at their defaults: each is compared with the one below.
    high: StrictFloat = Field(default=0.5, gt=0, lt=1, allow_inf_nan=False,
                              validate_default=True)
    critical: StrictFloat = Field(default=0.75, gt=0, lt=1, allow_inf_nan=False,
                                  validate_default=True)

    @field_validator("high", "critical")
    @classmethod
    def _increasing(cls, value: float, info: ValidationInfo) -> float:
        lower = "medium" if info.field_name == "high" else "high"
        below = info.data.get(lower)  # absent when it failed its own checks
        if below is not None and not value > below:
            raise ValueError(f"thresholds must increase strictly (medium < high < critical): "
                             f"{info.field_name} ({value}) is not above {lower} ({below})")
        return value

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """``(medium, high, critical)``: where each label above ``low`` starts."""
        return (float(self.medium), float(self.high), float(self.critical))


def risk_label(p: Any, bands: RiskBands) -> pd.Categorical:
    """The risk label of each calibrated defection probability.

    Parameters
    ----------
    p
        One-dimensional array-like of probabilities in [0, 1]; NaN / None / NA
        where there is none (prospects).
    bands
        The thresholds; a ``p`` exactly at a threshold gets the higher label.

    Returns
    -------
    pandas.Categorical
        One label per input value, in order, with the ordered categories
        ``low < medium < high < critical`` (:data:`RISK_DTYPE`); NA where ``p``
        is missing.

    Raises
    ------
    ValueError
        When a value is not numeric or lies outside [0, 1] (with the number of
        such values and an example).
    """
    values = _as_float(p, "risk_label: p")
    known = ~np.isnan(values)
    outside = known & ~((values >= 0) & (values <= 1))
    if outside.any():
        example = float(values[np.flatnonzero(outside)[0]])
        raise ValueError(
            f"risk_label: {int(outside.sum())} of {values.size} probabilities are outside "
            f"[0, 1] (e.g. {example!r}); pass the calibrated defection probability"
        )
    # side="right" counts the thresholds <= p: a p at a threshold moves up a label.
    codes = np.searchsorted(np.asarray(bands.thresholds), values, side="right")
    codes = np.where(known, codes, -1)
    return pd.Categorical.from_codes(codes, dtype=RISK_DTYPE)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _as_float(values: Any, what: str) -> np.ndarray:
    """A 1-d float array with NaN for every missing value (None, NaN, pd.NA)."""
    if np.ndim(values) != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {np.shape(values)}")
    series = pd.Series(np.asarray(values, dtype=object))
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} values are not numbers "
                         f"(e.g. {series[bad].iloc[0]!r})")
    return numbers.to_numpy(dtype=float, na_value=np.nan)
