"""Validation of the raw inputs: parse, check, quarantine, partition.

The raw transactions, interactions and customers (CSV or Parquet) are loaded
into a DuckDB connection as text, parsed with SQL, and every input row ends in
exactly one place: the clean table (typed as :data:`features.schema.CLEAN_TABLES`)
or the quarantine (:data:`features.schema.QUARANTINE`), with the id of the rule
it broke (:data:`RULES`). The counts are reconciled before anything is written.

Input rows -> outputs:

* ``rows_read`` = ``rows_accepted`` + ``rows_quarantined`` for every table;
  a malformed CSV line counts as one row. For a CSV file, ``rows_read`` is also
  the number of records the file's own lines hold (see
  :mod:`~features.validation.csv_records`), and every line is the header, blank,
  or inside one record read.
* A row breaks at most one rule: the first in the order of :data:`RULES`.
* Clean rows keep every contract column (absent optional ones are null), get
  ``customer_key`` (see :func:`write_customer_index`),
  ``bucket`` (hash partition of the customer, see :func:`bucket_of`),
  ``source_file`` and ``source_line``, and transactions get ``is_refund``.
* Customer ids are text as written (``00123`` stays ``00123``), trimmed, without
  invisible format characters and in Unicode NFC; case and width are kept. An id
  holding a control character is quarantined; one stored as a fractional
  number in Parquet is refused.

The work happens in the DuckDB connection passed in, so that memory is bounded
by DuckDB's ``memory_limit`` rather than by the size of the data; nothing here
reads params or the environment. The stage entry point is
:mod:`pipeline.validate`; the usual sequence is::

    report = validate_inputs(con, inputs=..., text=TextFormat(...), checks=Checks(...), now=...)
    write_clean_table(con, "transactions", path)   # for each clean table
    write_quarantine(con, path)
    write_customer_index(con, path)               # every customer once, with its dense key
    check_written(report, written)

Modules, one concern each:

* :mod:`~features.validation.options`: :class:`TextFormat` and :class:`Checks`.
* :mod:`~features.errors`: :class:`InputError`, :class:`ReconciliationError`.
* :mod:`~features.validation.sources`: locating the files, the keys of their columns.
* :mod:`~features.validation.text_file`: a CSV file's bytes -> numbered lines of text
  (compression, ``data.encoding``, every kind of line break).
* :mod:`~features.validation.csv_records`: a CSV file's lines -> its records, counted
  from the file itself (quotes, blank and damaged lines).
* :mod:`~features.validation.csv_load`: those records into DuckDB.
* :mod:`~features.validation.column_types`: the stored types a Parquet column may have.
* :mod:`~features.validation.columns`: the file's columns -> contract columns.
* :mod:`~features.validation.load`: loading the inputs into DuckDB.
* :mod:`~features.validation.parsing`: numbers and timestamps, with hints.
* :mod:`~features.validation.rules`: :data:`RULES` and the per-table rules.
* :mod:`~features.validation.cross_row`: rules across rows, the final rule and bucket.
* :mod:`~features.validation.quarantine`: the quarantine table.
* :mod:`~features.validation.report`: counting, reconciliation, the report.
* :mod:`~features.validation.run`: :func:`validate_inputs`.
* :mod:`~features.validation.clean`: writing the clean tables, the index, the quarantine.
* :mod:`~features.validation.sql`: SQL helpers and :func:`bucket_of`.
"""

from features.errors import InputError, ReconciliationError
from features.validation.clean import (
    check_written,
    write_clean_table,
    write_customer_index,
    write_quarantine,
)
from features.validation.options import Checks, TextFormat
from features.validation.report import reconcile
from features.validation.rules import RULES
from features.validation.run import validate_inputs
from features.validation.sql import bucket_of

__all__ = [
    "RULES",
    "Checks",
    "InputError",
    "ReconciliationError",
    "TextFormat",
    "bucket_of",
    "check_written",
    "reconcile",
    "validate_inputs",
    "write_clean_table",
    "write_customer_index",
    "write_quarantine",
]
