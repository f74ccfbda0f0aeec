"""The ``generate`` stage: files, byte-for-byte determinism, reported warts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import pipeline.generate as generate
from features.schema import CUSTOMERS, INTERACTIONS, TRANSACTIONS
from features.simulate import GROUND_TRUTH
from pipeline.config import load_params
from pipeline.params import Params
from pipeline.paths import Paths

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(PARAMS_FILE, overrides={"generate.size": "tiny"})


def _write(out_dir: Path, params: Params, seed: int) -> dict:
    size = params.generate.chosen
    return generate.write_demo(
        out_dir, n_customers=size.customers, n_days=size.days,
        start_date=params.generate.start_date, seed=seed,
        interaction_kinds=params.data.interaction_kinds,
        satisfaction_range=params.data.satisfaction_range,
        horizon_days=params.labels.horizon_days)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, params: Params) -> None:
    seed = params.generate.seed
    _write(tmp_path / "a", params, seed)
    _write(tmp_path / "b", params, seed)
    _write(tmp_path / "c", params, seed + 1)
    files = {name: path.name for name, path in generate.output_files(tmp_path).items()}
    assert set(files) == {"transactions", "interactions", "customers", "ground_truth"}
    for name in files.values():
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes(), name
        assert a != (tmp_path / "c" / name).read_bytes(), name
    assert not list((tmp_path / "a").glob(".*"))  # no temporary file left behind


def test_main_writes_the_stage_outputs(tmp_path: Path, params: Params,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths(tmp_path)
    monkeypatch.setattr(generate, "PATHS", paths)
    summary = generate.main(params)

    assert summary["size"] == "tiny"
    assert summary["customers"] == params.generate.chosen.customers
    for name, table in (("transactions", TRANSACTIONS), ("interactions", INTERACTIONS),
                        ("customers", CUSTOMERS)):
        path = paths.demo_input(name)
        assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(table.names)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        warts = summary["warts"][name]
        assert len(frame) == warts["rows"] == summary["rows"][name]
        assert int(frame.duplicated().sum()) == warts["duplicate_rows"]
        if "empty_customer_id" in warts:
            assert int((frame["customer_id"] == "").sum()) == warts["empty_customer_id"]
        if "bad_timestamp" in warts:
            parsed = pd.to_datetime(frame["timestamp"], format="ISO8601", errors="coerce")
            assert int(parsed.isna().sum()) == warts["bad_timestamp"]
    tx = pd.read_csv(paths.demo_input("transactions"), dtype=str, keep_default_na=False)
    assert tx["customer_id"].str.startswith("C0").any()  # leading zeros kept as text
    amount = pd.to_numeric(tx["amount"], errors="coerce")
    assert int(amount.isna().sum()) == summary["warts"]["transactions"]["bad_amount"]
    refunds = int((amount < 0).sum())
    assert abs(refunds - summary["warts"]["transactions"]["refund_rows"]) <= (
        summary["warts"]["transactions"]["bad_amount"]
        + summary["warts"]["transactions"]["duplicate_rows"])

    truth = pq.read_table(paths.ground_truth)
    assert truth.schema.equals(GROUND_TRUTH.arrow_schema())
    assert truth.num_rows == summary["rows"]["ground_truth"] > 0
    assert summary["events"] == summary["rows"]["transactions"] + summary["rows"]["interactions"]
