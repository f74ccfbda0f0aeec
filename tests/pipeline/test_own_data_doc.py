"""docs/own_data.md: the params of its worked example are valid and read the export it
shows the way the page says."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import yaml

from pipeline import validate
from pipeline.config import load_params
from pipeline.paths import Paths

DOC = Path(__file__).resolve().parents[2] / "docs" / "own_data.md"


def blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_worked_example_reads_the_export_as_documented(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    data = next(yaml.safe_load(b)["data"] for b in blocks(text)
                if "transactions: data/raw/orders.csv" in b)
    export = next(b for b in blocks(text) if b.startswith("order_no;"))
    # The rows the page quotes further down, after the ones it shows.
    export += ("T00004086;0000653;16/12/2023 12:01;1.023,19;web\n"
               "T00004452;0000788;12/01/2024 16:54;abc;web\n")
    paths = Paths(tmp_path)
    orders = paths.raw / "orders.csv"
    orders.parent.mkdir(parents=True)
    orders.write_text(export, encoding="utf-8")
    params = load_params(overrides={f"data.{key}": value for key, value in data.items()}
                         | {"data.transactions": str(orders)})

    report = validate.main(params, paths)

    table = report["tables"]["transactions"]
    assert (table["rows_read"], table["rows_accepted"]) == (5, 4)
    assert report["tables"]["interactions"]["skipped"]
    clean = pd.read_parquet(paths.clean_table("transactions")).set_index("transaction_id")
    row = clean.loc["T00004086"]
    assert row["customer_id"] == "0000653" and row["amount"] == 1023.19
    assert row["timestamp"] == pd.Timestamp(dt.datetime(2023, 12, 16, 11, 1))  # Paris -> UTC
    assert clean.loc["T00000001", "amount"] == 55.08
    reason = pd.read_parquet(paths.quarantine).set_index("rule").loc["amount_unparseable",
                                                                      "reason"]
    assert f"| {reason} |" in text  # the quarantine table of the page
