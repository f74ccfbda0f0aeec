"""The SQL the database sinks share: the scores table, its two views, the column list.

The table has the columns of :data:`features.schema.CUSTOMER_SCORES` in declared
order, ``as_of`` and ``customer_id`` NOT NULL (and the primary key where the sink
asks for one). The views, in the table's schema:

* ``latest_scores``: every column of the rows of the most recent ``as_of``, but a
  date scored beyond the data's reach (``score.force_as_of``), which the table
  ``<table>_beyond_data`` lists: such a date is in the table and in
  ``action_summary``, never the one ``latest_scores`` shows.
* ``action_summary``: one row per ``(as_of, stage, action)`` over all dates,
  with ``customers``, ``total_value_at_risk`` and ``mean_p_defect``.

The statements are built for the driver at hand: each sink passes its
identifier quoting, its SQL types and its placeholder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from features.schema import CUSTOMER_SCORES, Column
from pipeline.errors import SinkError

#: The rows of one customer on one date; unique in every sink.
_KEY = ("as_of", "customer_id")


def _quote(name: str) -> str:
    """Standard SQL identifier quoting (DuckDB's; PostgreSQL's driver quotes its own)."""
    return '"' + name.replace('"', '""') + '"'


def _create_table_sql(qualified: str, quote: Callable[[str], str],
                      sql_type: Callable[[Column], str], *, primary_key: bool) -> str:
    lines = [f"{quote(c.name)} {sql_type(c)}{' NOT NULL' if c.name in _KEY else ''}"
             for c in CUSTOMER_SCORES.columns]
    if primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(quote(k) for k in _KEY)})")
    return f"CREATE TABLE {qualified} (\n    " + ",\n    ".join(lines) + "\n)"


def marker_table(table: str) -> str:
    """The table listing the dates of ``table`` scored beyond the data's reach."""
    return f"{table}_beyond_data"


def _view_selects(qualified: str, marker: str, latest_view: str,
                  summary_view: str) -> dict[str, str]:
    return {
        latest_view: (f"SELECT * FROM {qualified} "
                      f"WHERE as_of = (SELECT max(as_of) FROM {qualified} "
                      f"WHERE as_of NOT IN (SELECT as_of FROM {marker}))"),
        summary_view: (f"SELECT as_of, stage, action, count(*) AS customers, "
                       f"sum(value_at_risk) AS total_value_at_risk, "
                       f"avg(p_defect) AS mean_p_defect "
                       f"FROM {qualified} GROUP BY as_of, stage, action"),
    }


def _ensure_table_and_views(
    run: Callable[[str, tuple[Any, ...] | None], list[tuple[Any, ...]]],
    *,
    param: str,
    schema: str,
    table: str,
    views: tuple[str, str],
    quote: Callable[[str], str],
    sql_type: Callable[[Column], str],
    primary_key: bool,
    where: str,
) -> None:
    """Create the table and the views if missing; check an existing table's columns.

    ``run(sql, params)`` executes one statement and returns its rows; ``param`` is
    the driver's placeholder (``?`` or ``%s``).
    """
    qualified = f"{quote(schema)}.{quote(table)}"
    marker = marker_table(table)
    qualified_marker = f"{quote(schema)}.{quote(marker)}"
    found = [row[0] for row in run(
        f"SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = {param} AND table_name = {param} ORDER BY ordinal_position",
        (schema, table))]
    if not found:
        run(_create_table_sql(qualified, quote, sql_type, primary_key=primary_key), None)
    elif sorted(found) != sorted(CUSTOMER_SCORES.names):
        missing = [n for n in CUSTOMER_SCORES.names if n not in found]
        unexpected = [n for n in found if n not in CUSTOMER_SCORES.names]
        raise SinkError(
            f"{where}: the existing table has other columns than "
            f"features.schema.CUSTOMER_SCORES (missing {missing}, unexpected {unexpected}); "
            f"migrate it (ALTER TABLE), drop it, or write to another table"
        )
    if not _exists(run, param, schema, marker):
        run(f"CREATE TABLE {qualified_marker} (as_of DATE NOT NULL PRIMARY KEY)", None)
    for view, select in _view_selects(qualified, qualified_marker, *views).items():
        definition = run(f"SELECT view_definition FROM information_schema.views "
                         f"WHERE table_schema = {param} AND table_name = {param}",
                         (schema, view))
        if not definition and not _exists(run, param, schema, view):
            run(f"CREATE VIEW {quote(schema)}.{quote(view)} AS {select}", None)
        elif view == views[0] and definition and marker not in str(definition[0][0]):
            # A view of an earlier version, blind to the dates beyond the data.
            run(f"CREATE OR REPLACE VIEW {quote(schema)}.{quote(view)} AS {select}", None)


def _exists(run: Callable[[str, tuple[Any, ...] | None], list[tuple[Any, ...]]], param: str,
            schema: str, name: str) -> bool:
    return bool(run(f"SELECT 1 FROM information_schema.tables "
                    f"WHERE table_schema = {param} AND table_name = {param}", (schema, name)))


def _mark_date(run: Callable[[str, tuple[Any, ...] | None], list[tuple[Any, ...]]], *,
               param: str, qualified_marker: str, as_of: Any, beyond_data: bool) -> None:
    """Record in the marker table whether ``as_of`` was scored beyond the data's reach
    (in the transaction that replaces the date's rows)."""
    run(f"DELETE FROM {qualified_marker} WHERE as_of = {param}", (as_of,))
    if beyond_data:
        run(f"INSERT INTO {qualified_marker} (as_of) VALUES ({param})", (as_of,))


def _column_list(quote: Callable[[str], str]) -> str:
    return ", ".join(quote(name) for name in CUSTOMER_SCORES.names)
