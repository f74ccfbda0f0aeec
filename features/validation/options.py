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
    encoding
        Text encoding of CSV files (a Python codec name: ``utf-8``, ``cp1252``,
        ``latin-1``, ``utf-16`` ...); a UTF-8 byte-order mark is dropped.
    timestamp_unit
        Unit of timestamps stored as numbers since 1970-01-01 UTC (Unix epochs):
        ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``; None refuses them (they are never
        guessed).
    """

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"
    encoding: str = "utf-8"
    timestamp_unit: str | None = None


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
    amount_range, quantity_range, discount_range
        Inclusive ``(low, high)`` bounds of a plausible amount, quantity and
        discount of one transaction; on a refund (amount below zero) a negative
        quantity or discount is compared by its magnitude.
    """

    interaction_kinds: tuple[str, ...]
    satisfaction_range: tuple[float, float] = (1.0, 5.0)
    min_timestamp: dt.datetime = dt.datetime(1990, 1, 1)
    max_future_days: int = 1
    amount_range: tuple[float, float] = (-1_000_000.0, 1_000_000.0)
    quantity_range: tuple[float, float] = (0.0, 1_000_000.0)
    discount_range: tuple[float, float] = (0.0, 1_000_000.0)
