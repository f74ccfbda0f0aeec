"""Scored frames and sink targets shared by the sink and crash-safety tests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from features.schema import CUSTOMER_SCORES
from pipeline.sinks import DuckDBSink, ParquetSink, PostgresSink, validate_scores

A = dt.date(2024, 1, 31)
B = dt.date(2024, 2, 29)
SCORED_AT = dt.datetime(2024, 2, 1, 6, 30, 15, 123456)
COLUMNS = ", ".join(CUSTOMER_SCORES.names)

#: (customer_id, stage, action, p_defect, predicted_value); prospects have no p_defect.
ROWS_A = [
    ("C1", "active", "protect", 0.2, 100.0),
    ("C2", "active", "protect", 0.4, 50.0),
    ("C3", "lapsing", "re_engineer", 0.6, 10.0),
    ("C4", "prospect", "start", None, 5.0),
]
ROWS_A_AGAIN = [
    ("C1", "lapsing", "re_engineer", 0.7, 80.0),
    ("C2", "active", "enhance", 0.1, 60.0),
    ("C9", "active", "protect", 0.3, 20.0),
]
ROWS_B = [
    ("C1", "active", "protect", 0.25, 90.0),
    ("C5", "new", "start", 0.5, 30.0),
]


def make_scores(as_of: dt.date, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """A scored frame with every declared column, from (id, stage, action, p, value) rows."""
    records = []
    for customer_id, stage, action, p_defect, value in rows:
        records.append({
            "customer_id": customer_id, "as_of": as_of, "stage": stage,
            "next_stage": "lapsing" if stage == "active" else stage, "p_next_stage": 0.5,
            "p_defect": p_defect,
            "risk_label": None if p_defect is None else ("high" if p_defect > 0.5 else "low"),
            "predicted_value": value,
            "value_at_risk": None if p_defect is None else p_defect * value,
            "value_tier": "high" if value >= 50 else "low", "action": action,
            "action_rule": f"{stage}_{action}",
            "reason_1": None if p_defect is None else f"Spending of {customer_id} fell",
            "reason_2": "", "reason_3": None,
            "model_name": "churn", "model_version": "3", "run_id": "abc123",
            "scored_at": SCORED_AT,
        })
    return pd.DataFrame.from_records(records, columns=CUSTOMER_SCORES.names)


def expected_rows(*frames: tuple[pd.DataFrame, dt.date]) -> list[tuple[Any, ...]]:
    """The rows the sinks should hold, as tuples in declared order, by (as_of, customer_id)."""
    rows = []
    for frame, as_of in frames:
        table = validate_scores(frame, as_of)
        rows += [tuple(r[n] for n in CUSTOMER_SCORES.names) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: (r[1], r[0]))


# --------------------------------------------------------------------------
# One fixture per sink, with a way to query what it holds.
# --------------------------------------------------------------------------

_schemas = itertools.count()


@dataclass
class Target:
    """A sink and a SQL door onto what it wrote."""

    sink: Any
    query: Callable[[str], list[tuple[Any, ...]]]
    table: str  # how to name the scores in ``query``

    def rows(self) -> list[tuple[Any, ...]]:
        return self.query(f"SELECT {COLUMNS} FROM {self.table} ORDER BY as_of, customer_id")


def parquet_target(tmp_path: Path) -> Target:
    root = tmp_path / "scores"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect() as con:
            return con.execute(sql).fetchall()

    return Target(ParquetSink(root), query,
                  f"read_parquet('{root}/*/*.parquet', hive_partitioning = true)")


def duckdb_target(tmp_path: Path) -> Target:
    path = tmp_path / "db" / "scores.duckdb"  # the folder does not exist yet

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return Target(DuckDBSink(path), query, "customer_scores")


def postgres_target(url: str) -> Target:
    import sqlalchemy

    schema = f"test_{next(_schemas)}"  # one schema per test: tests do not see each other
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)

    def query(sql: str) -> list[tuple[Any, ...]]:
        with engine.connect() as con:
            con.exec_driver_sql(f"SET search_path TO {schema}")
            return [tuple(r) for r in con.exec_driver_sql(sql).fetchall()]

    return Target(PostgresSink(url, schema=schema), query, "customer_scores")
