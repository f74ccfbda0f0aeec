"""Counting, reconciliation and the report of one validation.

Per table: rows read = rows accepted + rows quarantined (a malformed CSV line
counts as one row) and, for a CSV file, the file's own records = rows read and
its lines = header + blank + lines inside records; the quarantined rows by rule,
refunds kept, optional values set to null and ids cleaned; the totals over the
tables. :func:`reconcile` raises when
the counts do not add up; :func:`_no_transactions` explains, with examples from
the quarantine, why no transaction passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb

from features.errors import InputError, ReconciliationError
from features.schema import INPUT_TABLES
from features.validation.rules import RULES
from features.validation.sources import _Source
from features.validation.sql import _one, _run


def _count(con: duckdb.DuckDBPyConnection, source: _Source) -> dict[str, Any]:
    raw_rows = _run(con, f"SELECT count(*) FROM {source.raw}")[0][0]
    bad_rows = _run(con, f"SELECT count(*) FROM {source.bad}")[0][0]
    by_rule = dict(_run(con, f"SELECT __rule, count(*) FROM {source.rows} "
                             f"WHERE __rule IS NOT NULL GROUP BY __rule"))
    if bad_rows:
        by_rule["malformed_line"] = bad_rows
    by_rule = {rule: by_rule[rule] for rule in RULES if rule in by_rule}
    accepted = _run(con, f"SELECT count(*) FROM {source.rows} "
                         f"WHERE __rule IS NULL")[0][0]
    report: dict[str, Any] = {
        "source_file": source.display,
        "skipped": source.kind == "none",
        "format": None if source.kind == "none" else source.kind,
        "rows_read": raw_rows + bad_rows,
        "rows_accepted": accepted,
        "rows_quarantined": sum(by_rule.values()),
        "quarantined_by_rule": by_rule,
        "exact_duplicates_removed": by_rule.get("exact_duplicate", 0),
        "columns": {name: source.keys[pos] for name, pos in source.positions.items()},
        "optional_columns_absent": [c for c in INPUT_TABLES[source.table].optional
                                    if c not in source.positions],
        # Accepted rows whose customer_id lost invisible characters (rules.py).
        "ids_cleaned": _run(con, f"SELECT count(*) FROM {source.rows} "
                                 f"WHERE __rule IS NULL AND __id_cleaned")[0][0],
    }
    if source.table == "transactions":
        refunds, quantity, discount = _run(con, f"""
            SELECT count(*) FILTER (WHERE amount < 0),
                   count(*) FILTER (WHERE __nulled_quantity),
                   count(*) FILTER (WHERE __nulled_discount)
            FROM {source.rows} WHERE __rule IS NULL
        """)[0]
        report["refunds_kept"] = refunds
        report["optional_values_nulled"] = {"quantity": quantity, "discount": discount}
    if source.table == "interactions":
        # action and control given on rows that are no retention contact (rules.py).
        action, control = _run(con, f"""
            SELECT count(*) FILTER (WHERE __nulled_action),
                   count(*) FILTER (WHERE __nulled_control)
            FROM {source.rows} WHERE __rule IS NULL
        """)[0]
        report["optional_values_nulled"] = {"action": action, "control": control}
    report["reconciled"] = (report["rows_read"]
                            == report["rows_accepted"] + report["rows_quarantined"])
    if source.physical:
        # The file's own count: every line is the header, blank, or in one record read.
        f = report["file"] = dict(source.physical)
        report["reconciled"] = report["reconciled"] and f["records"] == report["rows_read"] and (
            f["lines"] == f["header_lines"] + f["blank_lines"] + f["record_lines"])
    return report


def _totals(tables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    for t in tables.values():
        for rule, n in t["quarantined_by_rule"].items():
            by_rule[rule] = by_rule.get(rule, 0) + n
    totals = {key: sum(t[key] for t in tables.values())
              for key in ("rows_read", "rows_accepted", "rows_quarantined",
                          "exact_duplicates_removed")}
    totals["quarantined_by_rule"] = {rule: by_rule[rule] for rule in RULES if rule in by_rule}
    totals["refunds_kept"] = sum(t.get("refunds_kept", 0) for t in tables.values())
    totals["reconciled"] = (all(t["reconciled"] for t in tables.values())
                            and totals["rows_read"]
                            == totals["rows_accepted"] + totals["rows_quarantined"])
    return totals


def reconcile(report: Mapping[str, Any]) -> None:
    """Raise if any table's rows read differ from accepted + quarantined.

    Parameters
    ----------
    report
        The report returned by :func:`validate_inputs`.

    Raises
    ------
    ReconciliationError
        Naming the table and the three counts.
    """
    for name, t in report["tables"].items():
        f = t.get("file")
        if f is not None and (f["records"] != t["rows_read"] or f["lines"] != (
                f["header_lines"] + f["blank_lines"] + f["record_lines"])):
            raise ReconciliationError(
                f"{name}: the file has {f['lines']} lines and {f['records']} records "
                f"({f['header_lines']} header, {f['blank_lines']} blank and "
                f"{f['record_lines']} record lines) but {t['rows_read']} rows were read "
                f"(this is a bug in features/validation/, not in the data)")
        if not t["reconciled"] or t["rows_read"] != t["rows_accepted"] + t["rows_quarantined"]:
            raise ReconciliationError(
                f"{name}: {t['rows_read']} rows read but {t['rows_accepted']} accepted + "
                f"{t['rows_quarantined']} quarantined; validation lost or duplicated rows "
                f"(this is a bug in features/validation/, not in the data)"
            )
    if not report["totals"]["reconciled"]:
        raise ReconciliationError(f"totals do not reconcile: {report['totals']}")


_RULE_HINTS = {
    "malformed_line": "check data.delimiter and data.encoding",
    "timestamp_unparseable": "check data.timestamp_format",
    "amount_unparseable": "check data.decimal and data.thousands",
    "timestamp_too_old": "check validate.min_timestamp",
    "timestamp_in_future": "check validate.max_future_days",
    "customer_id_missing": "check data.columns.transactions.customer_id",
    "amount_missing": "check data.columns.transactions.amount",
    "amount_out_of_range": "check validate.amount_range",
}


def _no_transactions(con: duckdb.DuckDBPyConnection, report: Mapping[str, Any],
                     last_event: dt.datetime | None) -> InputError:
    display = report["source_file"]
    if report["rows_read"] == 0:
        return InputError(f"{display}: the file has no data rows (only a header or nothing); "
                          f"data.transactions must name a file with transactions.")
    problems = []
    by_rule = report["quarantined_by_rule"]
    for rule, n in sorted(by_rule.items(), key=lambda kv: -kv[1])[:3]:
        line, reason = _run(con, "SELECT source_line, reason FROM _v_quarantine "
                                 "WHERE \"table\" = 'transactions' AND rule = $r "
                                 "ORDER BY source_line LIMIT 1", _one("r", rule))[0]
        hint = f"; {_RULE_HINTS[rule]} in params.yaml" if rule in _RULE_HINTS else ""
        if rule == "timestamp_in_future" and last_event is None:
            # Every event after the time of the run: the dates are misread (day and
            # month swapped, wrong year or zone) or this machine's clock is wrong.
            hint = ("; every parsed event is after the time of the run: check the dates in "
                    "the file (day/month order, data.timestamp_format, the year) and the "
                    "clock of this machine")
        problems.append(f"{rule}: {n} rows (e.g. line {line}: {reason}{hint})")
    return InputError(f"{display}: none of the {report['rows_read']} transactions rows passed "
                      f"validation. Most frequent problems: " + " | ".join(problems))
