"""Rules across rows and tables, and the final rule and bucket of every row.

Run after every table is parsed: the last valid event (over transactions and
interactions) sets the limit of ``timestamp_in_future``; exact duplicates,
conflicting transaction ids and duplicate customers are found among the rows
that break no other rule. :func:`_finalize` creates ``_v_rows_<table>``: the
parsed rows with their final ``__rule`` and ``__reason`` and their
``__bucket``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb

from features.validation.options import Checks
from features.validation.sources import _Source
from features.validation.sql import _bucket_sql, _Params, _q, _run

# Column holding the event time checked by timestamp_in_future, per table.
_EVENT_TIME = {"transactions": "timestamp", "interactions": "timestamp",
               "customers": "signup_date"}


def _last_valid_event(con: duckdb.DuckDBPyConnection, sources: Mapping[str, _Source],
                      now: dt.datetime) -> dt.datetime | None:
    """Latest event (transaction or interaction) that breaks no rule and is not after ``now``."""
    p = _Params()
    cutoff = p(now)
    parts = [
        f"SELECT max({_q('timestamp')}) AS t FROM {sources[name].parsed} "
        f"WHERE __rule IS NULL AND {_q('timestamp')} <= {cutoff}"
        for name in ("transactions", "interactions") if name in sources
    ]
    return _run(con, f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})", p)[0][0]


def _cross_row_rules(con: duckdb.DuckDBPyConnection, source: _Source,
                     limit: dt.datetime) -> None:
    """Create ``_v_late_<table>``: rows breaking exact_duplicate, transaction_id_conflict or
    duplicate_customer_id.

    Only rows that break no other rule (and are not in the future) take part,
    so a duplicate of a rejected row is quarantined under the same rule as it.
    """
    column = _q(_EVENT_TIME[source.table])
    p = _Params()
    # Rows whose hash is seen twice are candidates; equality of every raw
    # field is then checked on the candidates only, so a hash collision never
    # quarantines a row.
    partition = ", ".join(f"r.c{i}" for i in range(len(source.keys)))
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.late} AS
        WITH valid AS (
            SELECT __rid, __line, __file, __hash, customer_id FROM {source.parsed}
            WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
        ), candidates AS (
            SELECT __hash FROM valid GROUP BY __hash HAVING count(*) > 1
        ), ranked AS (
            SELECT v.__rid, v.__file,
                   first_value(v.__line) OVER w AS first_line,
                   first_value(v.__file) OVER w AS first_file,
                   row_number() OVER w AS n
            FROM valid v JOIN {source.raw} r ON v.__rid = r.rowid
            WHERE v.__hash IN (SELECT __hash FROM candidates)
            WINDOW w AS (PARTITION BY {partition} ORDER BY v.__file, v.__line)
        )
        SELECT __rid, CAST({p('exact_duplicate')} AS VARCHAR) AS __rule,
               {p('all fields equal to line ')} || first_line
               || CASE WHEN first_file IS DISTINCT FROM __file THEN {p(' of ')} || first_file
                  ELSE '' END || {p(' (kept)')} AS __reason
        FROM ranked WHERE n > 1
    """, p)
    if source.table == "transactions" and "transaction_id" in source.positions:
        # Same id, other values: a corrected or conflicting record. Keeping both
        # would count the purchase twice; the earlier row is kept. A refund may
        # carry the id of the purchase it refunds, so the sign of the amount is
        # part of the key.
        p = _Params()
        _run(con, f"""
            INSERT INTO {source.late}
            WITH valid AS (
                SELECT __rid, __line, __file, transaction_id, amount < 0 AS refund
                FROM {source.parsed}
                WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
                  AND transaction_id IS NOT NULL
                  AND __rid NOT IN (SELECT __rid FROM {source.late})
            ), firsts AS (
                SELECT transaction_id, refund, min(struct_pack(f := __file, l := __line)) AS first
                FROM valid GROUP BY transaction_id, refund HAVING count(*) > 1
            )
            SELECT v.__rid, {p('transaction_id_conflict')},
                   {p('transaction_id ')} || CAST(to_json(v.transaction_id) AS VARCHAR)
                   || {p(' is already used by line ')} || f.first.l
                   || CASE WHEN f.first.f IS DISTINCT FROM v.__file THEN {p(' of ')} || f.first.f
                      ELSE '' END
                   || {p(' with other values (kept)')}
            FROM valid v JOIN firsts f
              ON v.transaction_id = f.transaction_id AND v.refund = f.refund
            WHERE struct_pack(f := v.__file, l := v.__line) > f.first
        """, p)
    if source.table != "customers":
        return
    p = _Params()
    _run(con, f"""
        INSERT INTO {source.late}
        WITH valid AS (
            SELECT __rid, __line, __file, customer_id FROM {source.parsed}
            WHERE __rule IS NULL AND NOT coalesce({column} > {p(limit)}, false)
              AND __rid NOT IN (SELECT __rid FROM {source.late})
        ), firsts AS (
            SELECT customer_id, min(struct_pack(f := __file, l := __line)) AS first
            FROM valid GROUP BY customer_id HAVING count(*) > 1
        )
        SELECT v.__rid, {p('duplicate_customer_id')},
               {p('customer_id ')} || CAST(to_json(v.customer_id) AS VARCHAR)
               || {p(' already appears on line ')} || f.first.l || {p(' (kept)')}
        FROM valid v JOIN firsts f ON v.customer_id = f.customer_id
        WHERE struct_pack(f := v.__file, l := v.__line) > f.first
    """, p)


def _finalize(con: duckdb.DuckDBPyConnection, source: _Source, limit: dt.datetime,
              last_event: dt.datetime | None, checks: Checks) -> None:
    """Create ``_v_rows_<table>``: parsed rows with their final rule and their bucket."""
    name = _EVENT_TIME[source.table]
    column = _q(name)
    p = _Params()
    since = (f"the last valid event {last_event:%Y-%m-%d %H:%M:%S}" if last_event is not None
             else "the time of the run")
    after = "" if last_event is not None else "; no valid event is dated before the run"
    future = f"(v.__rule IS NULL AND {column} > {p(limit)})"
    why = (f"{p(name + ' ')} || strftime({column}, '%Y-%m-%d %H:%M:%S') "
           f"|| {p(f' UTC is after {limit:%Y-%m-%d %H:%M:%S} UTC ({since} plus ')}"
           f"|| {p(f'validate.max_future_days = {checks.max_future_days}{after})')}")
    _run(con, f"""
        CREATE OR REPLACE TABLE {source.rows} AS
        SELECT v.* EXCLUDE (__rule, __reason, __md5),
               coalesce(v.__rule, CASE WHEN {future} THEN {p('timestamp_in_future')} END,
                        l.__rule) AS __rule,
               coalesce(v.__reason, CASE WHEN {future} THEN {why} END, l.__reason) AS __reason,
               {_bucket_sql('v.customer_id', 'v.__md5')} AS __bucket
        FROM (SELECT *, md5(customer_id) AS __md5 FROM {source.parsed}) v
        LEFT JOIN {source.late} l ON v.__rid = l.__rid
    """, p)
    _run(con, f"DROP TABLE {source.parsed}")
    _run(con, f"DROP TABLE {source.late}")
