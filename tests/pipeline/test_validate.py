"""Tests of the validate stage entry point on a temporary project directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from features.schema import CLEAN_TABLES, QUARANTINE
from features.validation import InputError, bucket_of
from pipeline import validate
from pipeline.config import load_params
from pipeline.paths import Paths

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"

TRANSACTIONS = (
    "customer_id,timestamp,amount,channel\n"
    "007,2024-01-02 10:00:00,12.50,web\n"
    "008,2024-01-03,-4,store\n"
    "009,2099-12-31,1,web\n"
    "010,2024-01-03,oops,web\n"
)
INTERACTIONS = (
    "customer_id,timestamp,kind,satisfaction\n"
    "007,2024-01-02,complaint,2\n"
    "008,2024-01-02,carrier_pigeon,\n"
)
CUSTOMERS = "customer_id,signup_date,segment\n007,2023-05-01,gold\n007,2023-06-01,silver\n"


def make_params(tmp_path: Path, **overrides):
    files = {}
    for name, text in (("transactions", TRANSACTIONS), ("interactions", INTERACTIONS),
                       ("customers", CUSTOMERS)):
        files[name] = tmp_path / "raw" / f"{name}.csv"
        files[name].parent.mkdir(exist_ok=True)
        files[name].write_text(text, encoding="utf-8")
    values = {f"data.{name}": str(path) for name, path in files.items()}
    values.update(overrides)
    return load_params(PARAMS_FILE, overrides=values)


def test_main_writes_clean_tables_quarantine_and_report(tmp_path):
    paths = Paths(root=tmp_path)

    report = validate.main(make_params(tmp_path), paths)

    assert json.loads(paths.validation_report.read_text()) == json.loads(json.dumps(report))
    tables = report["tables"]
    assert {n: (t["rows_read"], t["rows_accepted"], t["rows_quarantined"])
            for n, t in tables.items()} == {
        "transactions": (4, 2, 2), "interactions": (2, 1, 1), "customers": (2, 1, 1)}
    assert tables["transactions"]["refunds_kept"] == 1
    assert report["totals"]["reconciled"] is True
    assert report["last_valid_event"] == "2024-01-03 00:00:00"
    for name, table in CLEAN_TABLES.items():
        written = pq.read_table(paths.clean_table(name))
        assert written.schema.remove_metadata().equals(table.arrow_schema())
        assert written.num_rows == tables[name]["rows_accepted"]
    ids = pq.read_table(paths.clean_table("transactions")).column("customer_id").to_pylist()
    assert ids == sorted(["007", "008"], key=lambda c: (bucket_of(c), c))
    quarantine = pq.read_table(paths.quarantine)
    assert quarantine.schema.remove_metadata().equals(QUARANTINE.arrow_schema())
    assert sorted(quarantine.column("rule").to_pylist()) == [
        "amount_unparseable", "duplicate_customer_id", "kind_unknown", "timestamp_in_future"]
    assert not list(paths.clean.glob(".*")), "temporary files left behind"


def test_main_with_transactions_only(tmp_path):
    paths = Paths(root=tmp_path)
    params = make_params(tmp_path, **{"data.interactions": None, "data.customers": None})

    report = validate.main(params, paths)

    for name in ("interactions", "customers"):
        written = pq.read_table(paths.clean_table(name))
        assert written.num_rows == 0
        assert written.schema.remove_metadata().equals(CLEAN_TABLES[name].arrow_schema())
        assert report["tables"][name]["source_file"] is None
    assert "skipped" in validate._summary(report)


def test_main_reads_params_formats(tmp_path):
    raw = tmp_path / "export.csv"
    raw.write_text("Kunde;Zeit;Betrag\n0042;15.07.2024 12:00;1.234,50\n", encoding="utf-8")
    params = make_params(tmp_path, **{
        "data.transactions": str(raw), "data.interactions": None, "data.customers": None,
        "data.delimiter": ";", "data.decimal": ",", "data.thousands": ".",
        "data.timestamp_format": "%d.%m.%Y %H:%M", "data.timezone": "Europe/Berlin",
        "data.columns.transactions": {"customer_id": "Kunde", "timestamp": "Zeit",
                                      "amount": "Betrag"},
    })

    validate.main(params, Paths(root=tmp_path))

    row = pq.read_table(Paths(root=tmp_path).clean_table("transactions")).to_pylist()[0]
    assert (row["customer_id"], row["amount"], str(row["timestamp"])) == (
        "0042", 1234.5, "2024-07-15 10:00:00")


def test_input_error_leaves_previous_outputs_untouched(tmp_path):
    paths = Paths(root=tmp_path)
    validate.main(make_params(tmp_path), paths)
    before = {p: p.read_bytes() for p in [*map(paths.clean_table, CLEAN_TABLES),
                                          paths.quarantine, paths.validation_report]}

    params = make_params(tmp_path, **{"data.columns.transactions": {"amount": "total"}})
    with pytest.raises(InputError, match=re.escape(
            "set by data.columns.transactions.amount")):
        validate.main(params, paths)

    assert {p: p.read_bytes() for p in before} == before
    assert not list(paths.clean.glob(".*")), "temporary files left behind"
