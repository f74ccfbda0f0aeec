"""What every sink shares: the error, the interface, the checks of a frame and of names.

A sink (:class:`Sink`) writes one frame of scored customers per scoring date
``as_of``; the frame has exactly the columns of
:data:`features.schema.CUSTOMER_SCORES`. :func:`validate_scores` checks it and
casts it to the declared Arrow types before any sink writes a row;
:func:`check_identifier` keeps table, view and schema names plain SQL
identifiers. A sink that cannot write raises :class:`pipeline.errors.SinkError`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import CUSTOMER_SCORES, Column

#: Default table name of the database sinks.
DEFAULT_TABLE = CUSTOMER_SCORES.name
#: Default names of the two views of the database sinks.
LATEST_VIEW = "latest_scores"
SUMMARY_VIEW = "action_summary"



class Staged(Protocol):
    """The rows of one date written to a sink but not shown to its readers yet: a
    hidden file or folder, an open transaction. :meth:`publish` shows them in one
    step; :meth:`discard` drops them and leaves the sink as it was."""

    where: str

    def publish(self) -> None: ...

    def discard(self) -> None: ...


class Sink(Protocol):
    """Where scored customers are written; one instance per destination.

    ``stage`` writes the rows of a date out of the readers' sight, ``write`` stages and
    publishes them at once (:func:`write_staged`). ``beyond_data`` marks a date scored
    past the data's reach (``score.force_as_of``): the database sinks keep it out of
    the ``latest_scores`` view.
    """

    name: str

    def stage(self, scores: pd.DataFrame, as_of: dt.date, *,
              beyond_data: bool = False) -> Staged:
        """Stage ``scores`` as the rows of ``as_of``; nothing is shown until published."""
        ...

    def write(self, scores: pd.DataFrame, as_of: dt.date, *, beyond_data: bool = False) -> str:
        """Replace the rows of ``as_of`` with ``scores``; return where they were written."""
        ...


def write_staged(staged: Staged) -> str:
    """Publish ``staged`` (discarded if the publish fails); return where it went."""
    try:
        staged.publish()
    except BaseException:
        staged.discard()
        raise
    return staged.where



def validate_scores(scores: pd.DataFrame, as_of: dt.date) -> pa.Table:
    """Check a frame of scored customers and cast it to the declared Arrow types.

    Parameters
    ----------
    scores : pandas.DataFrame
        Exactly the columns of :data:`features.schema.CUSTOMER_SCORES`, in any
        order; one row per customer. String columns may hold None/NA; ``as_of``
        may be dates, midnight timestamps or ISO strings; ``scored_at`` a naive
        UTC timestamp (a time-zone-aware one is converted to naive UTC) with at
        most microsecond precision. The frame is not modified.
    as_of : datetime.date
        The scoring date the frame is written for.

    Returns
    -------
    pyarrow.Table
        The rows with schema ``CUSTOMER_SCORES.arrow_schema()`` (declared column
        order and types).

    Raises
    ------
    TypeError
        ``scores`` is not a DataFrame or ``as_of`` not a ``datetime.date``.
    ValueError
        Missing, unexpected or repeated columns (named); a column that cannot be
        cast (named, with the offending value); a null ``customer_id``; a row whose
        ``as_of`` differs from the argument; a ``customer_id`` on more than one row.
    """
    table = CUSTOMER_SCORES
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"{table.name}: expected a pandas DataFrame, got {type(scores).__name__}")
    _check_date(as_of)
    where = f"{table.name} for as_of {as_of.isoformat()}"
    repeated_columns = sorted({str(c) for c in scores.columns[scores.columns.duplicated()]})
    if repeated_columns:
        raise ValueError(f"{where}: columns {repeated_columns} appear more than once in the "
                         f"frame; keep one of each")
    missing = [name for name in table.names if name not in scores.columns]
    unexpected = [str(c) for c in scores.columns if c not in table.names]
    if missing or unexpected:
        problems = ([f"missing columns {missing}"] if missing else []) + (
            [f"unexpected columns {unexpected}"] if unexpected else [])
        raise ValueError(f"{where}: {'; '.join(problems)}. The frame must have exactly the "
                         f"columns declared in features.schema.CUSTOMER_SCORES (any order).")

    arrays = [_cast(scores[c.name], c, where) for c in table.columns]
    data = pa.Table.from_arrays(arrays, schema=table.arrow_schema())

    ids = data.column("customer_id")
    if ids.null_count:
        raise ValueError(f"{where}: {ids.null_count} rows have no customer_id (null); every "
                         f"row must name its customer")
    dates = data.column("as_of")
    other_date = pc.fill_null(pc.not_equal(dates, pa.scalar(as_of, pa.date32())), True)
    n_other = pc.sum(other_date).as_py() or 0
    if n_other:
        first = pc.index(other_date, True).as_py()
        raise ValueError(
            f"{where}: {n_other} rows have another as_of (e.g. {dates[first].as_py()} for "
            f"customer_id {ids[first].as_py()!r}); a frame holds one scoring date: write "
            f"each date with its own as_of"
        )
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        examples = ", ".join(f"{r['values']!r} x{r['counts']}" for r in repeated[:3].to_pylist())
        raise ValueError(f"{where}: {len(repeated)} customer_id values are on more than one row "
                         f"(e.g. {examples}); each customer has one row per as_of")
    return data


def _check_date(as_of: object) -> None:
    # datetime.datetime (and pandas.Timestamp) are dates too; a time of day here is a mistake.
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r} "
                        f"({type(as_of).__name__})")


def _cast(series: pd.Series, column: Column, where: str) -> pa.Array:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(None)  # aware -> naive UTC, the declared convention
    try:
        return pa.array(series, type=column.arrow_type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ValueError(f"{where}: column {column.name!r} (pandas dtype {series.dtype}) cannot "
                         f"be cast to its declared type {column.dtype}: {err}") from err


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a folder: so that a rename survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
