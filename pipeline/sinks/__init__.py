"""Where scored customers are written for analysts: Parquet, DuckDB and PostgreSQL.

Scoring produces one frame per scoring date ``as_of`` with exactly the columns
of :data:`features.schema.CUSTOMER_SCORES`. Every sink has the same interface
(:class:`Sink`): ``write(scores, as_of)`` validates the frame
(:func:`validate_scores`), casts it to the declared Arrow types, replaces the
rows of that date and returns where it wrote (a path, or a URL with its
password masked by :func:`pipeline.secrets.mask_url`).

Writes are idempotent and atomic per ``as_of``: writing a date again replaces
its rows (other dates stay, nothing is duplicated), and a crash in the middle
leaves readers with the previous complete rows of that date or the new complete
ones, never a mix. Across sinks, :func:`publish` stages a date in every sink
(``stage``: out of the readers' sight) before it publishes it in any, so that a
sink that fails leaves none showing the new date.

========  ==============================================  ============================
sink      layout                                          atomicity
========  ==============================================  ============================
parquet   ``<root>/as_of=YYYY-MM-DD/part-0.parquet``      temporary file + os.replace
duckdb    table ``customer_scores`` + 2 views in a file   one transaction
postgres  table ``<schema>.customer_scores`` + 2 views    one transaction, COPY
========  ==============================================  ============================

The two views of the database sinks:

* ``latest_scores``: every column of the rows of the most recent ``as_of``
  that was not scored beyond the data's reach (those dates, written with
  ``beyond_data=True``, are listed in the table ``<table>_beyond_data``).
* ``action_summary``: one row per ``(as_of, stage, action)`` over all dates,
  with ``customers`` (row count), ``total_value_at_risk`` (sum of
  ``value_at_risk``; null when no row of the group has one, e.g. prospects) and
  ``mean_p_defect`` (mean of the non-null ``p_defect``). For the latest date:
  ``SELECT * FROM action_summary WHERE as_of = (SELECT max(as_of) FROM
  customer_scores)``.

The modules: ``base`` (what every sink shares: :class:`SinkError`, :class:`Sink`,
:func:`validate_scores`, :func:`check_identifier`), ``sql`` (the table and views
of the database sinks), ``parquet`` (:class:`ParquetSink`, the swap of a
partition folder, :func:`read_parquet_scores`), ``duckdb_sink``
(:class:`DuckDBSink`), ``postgres`` (:class:`PostgresSink`), ``factory``
(:func:`open_sinks`, the sinks by name) and ``publish`` (:func:`publish`, one
publish of a date across sinks).

This package is library code: it receives paths, URLs and names as values and
never reads ``params.yaml`` or the environment. The PostgreSQL sink needs the
``postgres`` extra (``pip install -e '.[postgres]'``).
"""

from pipeline.errors import SinkError
from pipeline.identifiers import check_identifier
from pipeline.sinks.base import (
    DEFAULT_TABLE,
    LATEST_VIEW,
    SUMMARY_VIEW,
    Sink,
    Staged,
    validate_scores,
    write_staged,
)
from pipeline.sinks.duckdb_sink import DuckDBSink
from pipeline.sinks.factory import DEFAULT_SINKS, SINK_NAMES, open_sinks
from pipeline.sinks.parquet import (
    PARQUET_FILE,
    PARQUET_PARTITIONING,
    ParquetSink,
    read_parquet_scores,
    replace_folder,
    replace_partition,
)
from pipeline.sinks.postgres import PostgresSink
from pipeline.sinks.publish import PublishError, publish

__all__ = [
    "DEFAULT_SINKS",
    "DEFAULT_TABLE",
    "LATEST_VIEW",
    "PARQUET_FILE",
    "PARQUET_PARTITIONING",
    "SINK_NAMES",
    "SUMMARY_VIEW",
    "DuckDBSink",
    "ParquetSink",
    "PostgresSink",
    "PublishError",
    "Sink",
    "SinkError",
    "Staged",
    "check_identifier",
    "open_sinks",
    "publish",
    "read_parquet_scores",
    "replace_folder",
    "replace_partition",
    "validate_scores",
    "write_staged",
]
