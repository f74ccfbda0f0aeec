"""The orchestration of one validation: :func:`validate_inputs`.

Loads every input (:mod:`~features.validation.load`), parses it and applies the
per-table rules (:mod:`~features.validation.rules`), then the rules across rows
(:mod:`~features.validation.cross_row`), builds the quarantine, counts and
reconciles (:mod:`~features.validation.report`). The clean tables are written
afterwards by :mod:`~features.validation.clean`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from features.errors import InputError
from features.schema import CLEAN_TABLES
from features.validation.cross_row import _cross_row_rules, _finalize, _last_valid_event
from features.validation.load import _load
from features.validation.options import Checks, TextFormat
from features.validation.quarantine import _build_quarantine
from features.validation.report import _count, _no_transactions, _totals, reconcile
from features.validation.rules import CONTACT_FIELDS_POLICY, OPTIONAL_NUMBER_POLICY, RULES, _parse
from features.validation.sources import _Source
from features.validation.sql import _run


def validate_inputs(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs: Mapping[str, str | Path | None],
    text: TextFormat,
    checks: Checks,
    now: dt.datetime,
    column_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Load, parse and check the inputs inside ``con``; return the validation report.

    Leaves in ``con`` the tables that :func:`write_clean_table` and
    :func:`write_quarantine` write out.

    Parameters
    ----------
    con
        DuckDB connection doing the work (its memory limit bounds the memory used).
    inputs
        File (or directory of Parquet files) for ``transactions`` (required),
        ``interactions`` and ``customers`` (None: skipped, written empty).
    text
        How values are written in the files.
    checks
        Values the rules compare against.
    now
        Time of the run, naive UTC: events after it never define the last valid event.
    column_maps
        Per table, contract column -> column name in the file, for names that differ.

    Returns
    -------
    dict
        ``tables`` (per table: ``source_file``, ``rows_read``, ``rows_accepted``,
        ``rows_quarantined``, ``quarantined_by_rule``, ``exact_duplicates_removed``,
        ``refunds_kept`` and ``optional_values_nulled`` for transactions,
        ``optional_values_nulled`` (action, control on other kinds) for interactions,
        ``reconciled``), ``totals``, ``last_valid_event``, ``future_limit``,
        ``rules`` and ``policies``.

    Raises
    ------
    InputError
        An input cannot be used as configured (missing file or column, unreadable
        Parquet, wrong delimiter, no usable transactions).
    ReconciliationError
        If counts do not add up (a bug).
    """
    column_maps = column_maps or {}
    sources: dict[str, _Source] = {}
    for name in CLEAN_TABLES:
        path = inputs.get(name)
        if name == "transactions" and path is None:
            raise InputError("data.transactions is null; transactions are required: set "
                             "data.transactions in params.yaml to the transactions file.")
        sources[name] = _load(con, name, None if path is None else Path(path),
                              column_maps.get(name, {}), text)
    for source in sources.values():
        _parse(con, source, text, checks)

    last_event = _last_valid_event(con, sources, now)
    limit = (last_event if last_event is not None else now) + dt.timedelta(
        days=checks.max_future_days)
    for source in sources.values():
        _cross_row_rules(con, source, limit)
        _finalize(con, source, limit, last_event, checks)
    _build_quarantine(con, sources)

    tables = {name: _count(con, source) for name, source in sources.items()}
    for source in sources.values():
        # The raw text is in the quarantine now; free its memory (or disk).
        for name in (source.raw, source.bad):
            _run(con, f"DROP TABLE {name}")
    report: dict[str, Any] = {
        "tables": tables,
        "totals": _totals(tables),
        "last_valid_event": None if last_event is None else last_event.isoformat(" "),
        "future_limit": limit.isoformat(" ") if last_event is not None else None,
        "min_timestamp": checks.min_timestamp.isoformat(" "),
        "rules": dict(RULES),
        "policies": {"unparseable_optional_numbers": OPTIONAL_NUMBER_POLICY,
                     "retention_contact_fields": CONTACT_FIELDS_POLICY},
    }
    reconcile(report)
    if tables["transactions"]["rows_accepted"] == 0:
        raise _no_transactions(con, tables["transactions"], last_event)
    return report
