"""Reason texts, the craft: values read and written over many customers at once.

The templates of :mod:`models.reason_templates` say what a reason group tells;
this module gives them the customers' values and writes the sentences for all
the rows of a group in one go, without a Python call per row:

* :class:`_Rows` are the rows a template writes for, their values read column
  by column (numbers as float64 with NaN for a missing value, infinities
  included; texts stripped, ``None`` when missing or blank).
* :class:`_Sentences` writes the sentences case by case: each case takes the
  rows still unwritten where its value is known, and its phrase, a function of
  one value, is called once per distinct value (most values repeat: counts,
  days); the rows hold the number of their sentence, not a copy.
* :func:`_number`, :func:`_count`, ... write one value as people do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------
# Formatting of one value
# --------------------------------------------------------------------------


def _number(x: float) -> str:
    """A value as people write it: whole from 10 up, else one decimal at most."""
    text = f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _count(x: float, singular: str, plural: str) -> str:
    """``"no complaints"``, ``"1 complaint"``, ``"2 complaints"``."""
    text = _number(x)
    if text in ("0", "-0"):
        return f"no {plural}"
    return f"{text} {singular if text == '1' else plural}"


def _days(x: float) -> str:
    text = _number(x)
    return f"{text} {'day' if text == '1' else 'days'}"


def _hours(x: float) -> str:
    text = _number(x)
    return f"{text} {'hour' if text == '1' else 'hours'}"


def _amount(x: float) -> str:
    return f"{x:,.2f}"


def _percent(share: float) -> str:
    return f"{abs(share) * 100:.0f}%"


# --------------------------------------------------------------------------
# Many values at once
# --------------------------------------------------------------------------


def _distinct(values: np.ndarray) -> tuple[list, np.ndarray]:
    """The distinct values (Python floats or texts) and, per value, its place among them.

    Numbers (float64, none missing) are told apart by their bits, so ``-0.0``
    and ``0.0`` stay two values; texts (``object``, ``str`` only) by equality.
    """
    if values.dtype == object:
        codes, distinct = pd.factorize(values)
        return distinct.tolist(), codes
    bits, where = np.unique(np.ascontiguousarray(values, dtype=np.float64).view(np.uint64),
                            return_inverse=True)
    return bits.view(np.float64).tolist(), where


def _text(value: object) -> str | None:
    """A text value stripped; ``None`` when missing or blank."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


class _Rows:
    """Some rows of the feature frame (by position), as templates read them.

    A template reads a column once: the values of its rows are converted then
    (numbers to float64, texts stripped). A column the frame lacks is missing.
    """

    __slots__ = ("_features", "_positions")

    def __init__(self, features: pd.DataFrame, positions: np.ndarray) -> None:
        self._features, self._positions = features, positions

    def __len__(self) -> int:
        return len(self._positions)

    def _column(self, name: str | None) -> pd.Series | None:
        if name is None or name not in self._features.columns:
            return None
        return self._features[name].iloc[self._positions]

    def number(self, name: str | None) -> np.ndarray:
        """float64 values of the rows, NaN where missing or not finite."""
        series = self._column(name)
        if series is None:
            return np.full(len(self._positions), np.nan)
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
        return np.where(np.isfinite(values), values, np.nan)

    def text(self, name: str) -> np.ndarray:
        """Texts of the rows, stripped, ``None`` where missing or blank.

        Categories and strings are converted once per distinct value, other
        values one by one.
        """
        series = self._column(name)
        if series is None:
            return np.full(len(self._positions), None, dtype=object)
        if isinstance(series.dtype, pd.CategoricalDtype | pd.StringDtype):
            codes, distinct = pd.factorize(series)
        else:
            codes, distinct = np.arange(len(series)), series
        said = [_text(value) for value in distinct.astype(object).tolist()]
        return np.array([*said, None], dtype=object)[codes]


def _known(values: np.ndarray) -> np.ndarray:
    """Where a value is known: a text not ``None``, a finite number."""
    return pd.notna(values) if values.dtype == object else np.isfinite(values)


class _Sentences:
    """The sentences of some rows, written case by case, first case first.

    Row ``i`` reads ``texts[codes[i]]``: a sentence is written once, however many
    rows say it. Every row starts with the neutral phrase; a case takes the rows
    still open where its value is known (and its condition holds), writes them,
    and closes them. Rows no case takes keep the neutral phrase.
    """

    def __init__(self, size: int, neutral: str) -> None:
        self.codes = np.zeros(size, dtype=np.intp)
        self.texts = [neutral]
        self._open = np.ones(size, dtype=bool)

    def _take(self, where: np.ndarray) -> np.ndarray:
        taken = self._open & where
        self._open &= ~taken
        return taken

    def _write(self, rows: np.ndarray, codes: np.ndarray, texts: list[str]) -> None:
        self.codes[rows] = len(self.texts) + codes
        self.texts += texts

    def each(self, values: np.ndarray, phrase: Callable[..., str],
             where: np.ndarray | None = None) -> np.ndarray:
        """Open rows with a known value (and ``where``) get ``phrase(value)``; the rows taken."""
        known = _known(values)
        taken = self._take(known if where is None else known & where)
        distinct, codes = _distinct(values[taken])
        self._write(taken, codes, [phrase(v) for v in distinct])
        return taken

    def fixed(self, where: np.ndarray, text: str) -> np.ndarray:
        """Open rows where ``where`` holds get ``text``; the rows taken."""
        taken = self._take(where)
        self._write(taken, np.zeros(1, dtype=np.intp), [text])
        return taken

    def extend(self, rows: np.ndarray, values: np.ndarray, phrase: Callable[..., str]) -> None:
        """Appends ``phrase(value)`` to the sentences of ``rows`` whose value is known."""
        more = rows & _known(values)
        if not more.any():
            return
        distinct, codes = _distinct(values[more])
        said = [phrase(v) for v in distinct]
        # one sentence per distinct pair (sentence so far, value)
        pairs, where = np.unique(self.codes[more] * len(distinct) + codes, return_inverse=True)
        heads, tails = np.divmod(pairs, len(distinct))
        self._write(more, where, [self.texts[head] + said[tail] for head, tail
                                  in zip(heads.tolist(), tails.tolist(), strict=True)])
