"""The feature schema of a scorer: the feature-table columns its models were trained on.

A schema maps each feature column to its Arrow dtype (``"double"``, ``"int32"``,
``"string"``, ``"date32"``, ...). :func:`check_schema` refuses features that do
not match it (:class:`SchemaMismatchError`), :func:`schema_difference` says in
words what differs, and :func:`schema_digest` is its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pandas as pd

__all__ = ["SchemaMismatchError", "check_schema", "schema_difference", "schema_digest"]

_NUMERIC = ("double", "int64", "int32", "int16", "bool")


class SchemaMismatchError(ValueError):
    """The features given to a scorer are not those its models were trained on."""


def schema_difference(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """What differs between two feature schemas (column -> Arrow dtype), in words.

    Returns an empty list when they are the same (column order is ignored).
    Integer widths are not told apart (an ``int32`` count read back as
    ``int64`` is the same feature).
    """
    def kind(dtype: str) -> str:
        return "integer" if dtype.startswith("int") else dtype

    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    typed = [f"{c} ({expected[c]} expected, got {actual[c]})" for c in expected
             if c in actual and kind(expected[c]) != kind(actual[c])]
    out = []
    if missing:
        out.append(f"missing columns {missing}")
    if extra:
        out.append(f"unexpected columns {extra}")
    if typed:
        out.append(f"other types: {', '.join(typed)}")
    return out


def _frame_schema(frame: pd.DataFrame, expected: Mapping[str, str]) -> dict[str, str]:
    """The Arrow-like dtype of each column of ``frame``, read leniently: a column
    that is all null, or text where text or a date is expected, or numbers where
    numbers are expected (MLflow hands every number over as double), is taken as
    the expected type."""
    out = {}
    for name, col in frame.items():
        want = expected.get(name)
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            got = "double"
            if want in _NUMERIC:
                got = want
        elif pd.api.types.is_datetime64_any_dtype(col):
            got = "date32" if want == "date32" else "timestamp[us]"
        elif col.isna().all() and want is not None:
            got = want
        else:
            got = want if want in ("string", "date32") else "string"
        out[str(name)] = got
    return out


def check_schema(expected: Mapping[str, str], frame: pd.DataFrame) -> None:
    """Raise :class:`SchemaMismatchError` unless ``frame`` has exactly the expected
    feature columns, with compatible types."""
    problems = schema_difference(expected, _frame_schema(frame, expected))
    if problems:
        raise SchemaMismatchError(
            f"the features do not match the model's feature schema ({len(expected)} columns, "
            f"digest {schema_digest(expected)}): {'; '.join(problems)}. Build the features "
            "with the feature params the model was trained with (features.windows_days, "
            "features.trend_days, data.interaction_kinds, ...) or score with a model trained "
            "on these features")


def schema_digest(schema: Mapping[str, str]) -> str:
    """A short, order-independent fingerprint of a feature schema."""
    text = json.dumps(sorted(schema.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
