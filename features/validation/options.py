"""What validation is told about the inputs: how values are written (:class:`TextFormat`)
and the values the rules compare against (:class:`Checks`).

Both are plain frozen dataclasses filled from the ``data`` and ``validate``
sections of params by :mod:`pipeline.validate`; nothing here reads params.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class TextFormat:
    """How the files are written (the ``data`` section of params).

    Attributes
    ----------
    delimiter
        CSV field separator.
    decimal
        Decimal mark of numbers written as text: ``"."`` or ``","``.
    thousands
        Thousands separator of numbers written as text, or None. With ``" "``,
        no-break and narrow no-break spaces are accepted too.
    timestamp_format
        strptime format of timestamps written as text; None for ISO 8601.
    timezone
        IANA zone of timestamps written without a UTC offset.
    """

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Checks:
    """Values the rules compare against (``data`` and ``validate`` sections of params).

    Attributes
    ----------
    interaction_kinds
        Vocabulary of ``interactions.kind`` (lower-case).
    satisfaction_range
        Inclusive ``(low, high)`` bounds of ``interactions.satisfaction``.
    min_timestamp
        Earliest acceptable timestamp (naive UTC).
    max_future_days
        Days allowed after the last valid event before a timestamp is in the future.
    """

    interaction_kinds: tuple[str, ...]
    satisfaction_range: tuple[float, float] = (1.0, 5.0)
    min_timestamp: dt.datetime = dt.datetime(1990, 1, 1)
    max_future_days: int = 1
