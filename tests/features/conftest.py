"""Builders of kernel inputs from plain rows, shared by the feature tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from features.simulate import Simulation, simulate
from features.spec import FeatureSpec
from pipeline.config import load_params
from pipeline.params import Params

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"

SPEC = FeatureSpec(
    windows_days=(30, 90),
    trend_days=30,
    interaction_kinds=("support_ticket", "complaint", "survey"),
    resolution_kinds=("complaint",),
)


def ts(day: str | dt.date, hour: int = 12) -> dt.datetime:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime(d.year, d.month, d.day, hour)


def make_inputs(tx_rows, ix_rows=(), cu_rows=()):
    """Kernel inputs from rows.

    tx_rows: (customer_id, timestamp, amount); ix_rows: (customer_id, timestamp, kind,
    satisfaction, resolved, resolution_hours); cu_rows: (customer_id, signup, segment,
    relationship_type). Keys are the rank of the customer id.
    """
    ids = sorted({r[0] for r in (*tx_rows, *ix_rows, *cu_rows)})
    key = {c: i for i, c in enumerate(ids)}
    tx = pa.table({
        "customer_key": pa.array([key[r[0]] for r in tx_rows], pa.int64()),
        "timestamp": pa.array([r[1] for r in tx_rows], pa.timestamp("us")),
        "amount": pa.array([float(r[2]) for r in tx_rows], pa.float64()),
        "is_refund": pa.array([r[2] < 0 for r in tx_rows], pa.bool_()),
    })
    ix = pa.table({
        "customer_key": pa.array([key[r[0]] for r in ix_rows], pa.int64()),
        "timestamp": pa.array([r[1] for r in ix_rows], pa.timestamp("us")),
        "kind": pa.array([r[2] for r in ix_rows], pa.string()),
        "satisfaction": pa.array([r[3] for r in ix_rows], pa.float64()),
        "resolved": pa.array([r[4] for r in ix_rows], pa.bool_()),
        "resolution_hours": pa.array([r[5] for r in ix_rows], pa.float64()),
    })
    cu = pa.table({
        "customer_key": pa.array([key[r[0]] for r in cu_rows], pa.int64()),
        "signup_date": pa.array([r[1] for r in cu_rows], pa.timestamp("us")),
        "segment": pa.array([r[2] for r in cu_rows], pa.string()),
        "relationship_type": pa.array([r[3] for r in cu_rows], pa.string()),
    })
    index = pa.table({"customer_key": pa.array(range(len(ids)), pa.int64()),
                      "customer_id": pa.array(ids, pa.string())})
    return tx, ix, cu, index


@pytest.fixture
def spec() -> FeatureSpec:
    return SPEC


@pytest.fixture(scope="module")
def params() -> Params:
    """The project's params.yaml."""
    return load_params(PARAMS_FILE)


def simulate_tiny(params: Params, **overrides) -> Simulation:
    """The simulator at the ``tiny`` size of params (and its horizon), with overrides."""
    size = params.generate.sizes["tiny"]
    kwargs = dict(n_customers=size.customers, n_days=size.days,
                  start_date=params.generate.start_date, seed=params.generate.seed,
                  interaction_kinds=params.data.interaction_kinds,
                  satisfaction_range=params.data.satisfaction_range,
                  horizon_days=params.labels.horizon_days)
    return simulate(**{**kwargs, **overrides})
