"""The design matrix: which columns are model inputs, and how they are typed.

Every model of :mod:`models.lgbm` reads the same design matrix, built by
:func:`design_matrix` from the feature table joined with the labels: numeric
features as ``float64`` (nulls as ``NaN``, which LightGBM treats as missing)
and categorical features as pandas ``Categorical`` columns with *fixed*
categories. The categories are part of the model: LightGBM splits on category
codes, so training and scoring must code ``"core"`` or ``"self_service"`` by
the same number. They are given (:data:`~models.stages.STAGES` for ``stage``)
or learned once from the training rows (:meth:`FeatureFrame.from_training`); a
value unseen in training becomes a missing value, never a new code.
:class:`FeatureFrame` is that schema, stored with each model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.spec import KEY_COLUMNS

__all__ = [
    "PROFILE_CATEGORICALS",
    "STAGE_COLUMN",
    "FeatureFrame",
    "design_matrix",
    "feature_columns",
    "learn_categories",
]

#: Categorical columns of the feature table (customer profile).
PROFILE_CATEGORICALS: tuple[str, ...] = ("segment", "relationship_type")

#: Stage at the cutoff: a column of the labels table, used as a model input.
STAGE_COLUMN = "stage"


def feature_columns(
    feature_table_names: Iterable[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Decide which columns are model inputs, and which of them are categorical.

    Parameters
    ----------
    feature_table_names
        Column names of the feature table, in table order (for instance
        ``feature_table(spec).names``).

    Returns
    -------
    numeric : tuple of str
        Every feature-table column except the keys (``customer_id``, ``cutoff``)
        and the categorical ones, in table order.
    categorical : tuple of str
        ``segment`` and ``relationship_type`` (those present, in table order),
        then ``stage``, the stage at the cutoff taken from the labels table,
        which is always an input.

    Raises
    ------
    ValueError
        If a name is repeated, or the feature table already has a ``stage``
        column (the stage must come from the labels, computed by the stage rules).
    """
    names = list(feature_table_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"feature table column names are repeated: {repeated}")
    if STAGE_COLUMN in names:
        raise ValueError(f"the feature table has a {STAGE_COLUMN!r} column; the stage input "
                         "is taken from the labels table, drop it from the features")
    inputs = [n for n in names if n not in KEY_COLUMNS]
    categorical = [n for n in inputs if n in PROFILE_CATEGORICALS]
    numeric = [n for n in inputs if n not in PROFILE_CATEGORICALS]
    return tuple(numeric), (*categorical, STAGE_COLUMN)


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        more = " ..." if frame.shape[1] > 10 else ""
        raise ValueError(f"{what}: {len(missing)} column(s) missing from the frame: {missing}; "
                         f"it has {list(frame.columns)[:10]}{more}")


def _category_list(column: str, values: Sequence[Any]) -> list[str]:
    cats = list(values)
    bad = [v for v in cats if not isinstance(v, str)]
    if bad:
        raise ValueError(f"categories of {column!r} must be strings; got {len(bad)} other "
                         f"value(s), e.g. {bad[0]!r}")
    if len(set(cats)) != len(cats):
        dup = next(v for v in cats if cats.count(v) > 1)
        raise ValueError(f"categories of {column!r} are repeated, e.g. {dup!r}")
    return cats


def _as_text(values: pd.Series) -> pd.Series:
    """Values as pandas strings, nulls as ``<NA>``: how categories are compared."""
    return values.astype("string")


def learn_categories(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    fixed: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """The categories of each categorical column: given, or learned from ``frame``.

    Parameters
    ----------
    frame
        Training rows; only ``columns`` not in ``fixed`` are read.
    columns
        Categorical columns.
    fixed
        Categories that do not depend on the data (``{"stage": STAGES}``); kept
        as given, in the given order.

    Returns
    -------
    dict of str to tuple of str
        For every column of ``columns``: the fixed categories, or the distinct
        non-null values of ``frame[column]`` as text (pandas ``string`` conversion,
        as in :func:`design_matrix`), sorted, so that the same training values
        always give the same codes whatever their row order.
    """
    fixed = dict(fixed or {})
    out: dict[str, tuple[str, ...]] = {}
    for column in columns:
        if column in fixed:
            out[column] = tuple(_category_list(column, fixed[column]))
            continue
        _check_columns(frame, [column], "learn_categories")
        text = _as_text(frame[column])
        out[column] = tuple(sorted(set(text[text.notna()])))
    return out


def design_matrix(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    categories: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Select and type the model inputs of ``frame``.

    Input columns ``numeric + categorical`` of ``frame`` → output columns
    ``numeric`` (``float64``, nulls as ``NaN``) then ``categorical`` (pandas
    ``category`` with exactly ``categories[column]``, unordered; a value outside
    them, or a null, becomes a missing value), on the index of ``frame``.
    The output columns and dtypes depend only on the arguments other than the
    rows of ``frame``, so that training, validation and scoring frames look
    the same to the model. ``frame`` is not modified.

    Parameters
    ----------
    frame
        Features joined with labels (or scoring rows); other columns are ignored.
    numeric
        Numeric inputs: numbers, booleans or nullable integers.
    categorical
        Categorical inputs, compared as text with the categories.
    categories
        Categories of every column of ``categorical`` (see :func:`learn_categories`).

    Returns
    -------
    pandas.DataFrame
        A new frame with columns ``[*numeric, *categorical]``.

    Raises
    ------
    ValueError
        If a column is missing, listed twice, has no categories, or a numeric
        column holds non-numeric values.
    """
    numeric, categorical = list(numeric), list(categorical)
    both = numeric + categorical
    repeated = sorted({c for c in both if both.count(c) > 1})
    if repeated:
        raise ValueError(f"design_matrix: columns listed more than once: {repeated}")
    _check_columns(frame, both, "design_matrix")
    no_cats = [c for c in categorical if c not in categories]
    if no_cats:
        raise ValueError(f"design_matrix: no categories given for {no_cats}; learn them from "
                         "the training rows with learn_categories")

    out: dict[str, Any] = {}
    for column in numeric:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        ):
            raise ValueError(f"design_matrix: numeric column {column!r} has dtype "
                             f"{values.dtype}; example value {values.dropna().iloc[:1].tolist()}")
        out[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    for column in categorical:
        dtype = pd.CategoricalDtype(_category_list(column, categories[column]), ordered=False)
        # get_indexer gives -1, the code of a missing value, to nulls and unseen values.
        codes = dtype.categories.get_indexer(_as_text(frame[column]))
        out[column] = pd.Categorical.from_codes(codes, dtype=dtype)
    return pd.DataFrame(out, index=frame.index, columns=both)


@dataclass(frozen=True)
class FeatureFrame:
    """The schema of a design matrix: its columns and the categories of each.

    Store it with a model (:meth:`to_dict`) so that scoring builds exactly the
    matrix the model was trained on.

    Parameters
    ----------
    numeric
        Numeric input columns.
    categorical
        Categorical input columns.
    categories
        Categories of each categorical column, in code order.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "categories",
                           {c: tuple(_category_list(c, v)) for c, v in self.categories.items()})
        missing = [c for c in self.categorical if c not in self.categories]
        if missing:
            raise ValueError(f"FeatureFrame: no categories for {missing}")

    @classmethod
    def from_training(
        cls,
        frame: pd.DataFrame,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        fixed_categories: Mapping[str, Sequence[str]] | None = None,
    ) -> FeatureFrame:
        """Fix the schema from the training rows (see :func:`learn_categories`)."""
        cats = learn_categories(frame, categorical, fixed=fixed_categories)
        return cls(tuple(numeric), tuple(categorical), cats)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output columns, in order."""
        return (*self.numeric, *self.categorical)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``frame`` (see :func:`design_matrix`)."""
        return design_matrix(frame, numeric=self.numeric, categorical=self.categorical,
                             categories=self.categories)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` reads it back."""
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": {c: list(self.categories[c]) for c in self.categorical}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureFrame:
        """Read back the output of :meth:`to_dict`."""
        return cls(tuple(data["numeric"]), tuple(data["categorical"]),
                   {c: tuple(v) for c, v in data["categories"].items()})
