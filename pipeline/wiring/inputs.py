"""Params into the settings of input validation (params ``data`` and ``validate``)."""

from __future__ import annotations

import datetime as dt

from features.validation import Checks, TextFormat
from pipeline.params import Params


def text_format(params: Params) -> TextFormat:
    """How the input files write text, numbers and times (params ``data``)."""
    data = params.data
    return TextFormat(delimiter=data.delimiter, decimal=data.decimal, thousands=data.thousands,
                      timestamp_format=data.timestamp_format, timezone=data.timezone,
                      encoding=data.encoding, timestamp_unit=data.timestamp_unit)


def checks(params: Params) -> Checks:
    """The value checks of validation (params ``data`` and ``validate``)."""
    data, settings = params.data, params.validate_
    return Checks(interaction_kinds=tuple(data.interaction_kinds),
                  satisfaction_range=data.satisfaction_range,
                  min_timestamp=dt.datetime.combine(settings.min_timestamp, dt.time()),
                  max_future_days=settings.max_future_days,
                  amount_range=settings.amount_range, quantity_range=settings.quantity_range,
                  discount_range=settings.discount_range)
