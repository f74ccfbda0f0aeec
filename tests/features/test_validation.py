"""Tests of features.validation on tiny hand-made inputs written in tmp_path."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.schema import CLEAN_TABLES, N_PARTITIONS, QUARANTINE
from features.validation import (
    RULES,
    Checks,
    InputError,
    ReconciliationError,
    TextFormat,
    bucket_of,
    check_written,
    reconcile,
    validate_inputs,
    write_clean_table,
    write_quarantine,
)

NOW = dt.datetime(2025, 6, 1)
CHECKS = Checks(interaction_kinds=("call", "complaint", "survey"))
TX_HEADER = "customer_id,timestamp,amount"
GOOD_TX = f"{TX_HEADER}\nC1,2024-01-02,10.00\nC2,2024-01-03,5.5\n"


@dataclass
class Run:
    """The outcome of one validation: the report and the files it wrote."""

    report: dict[str, Any]
    dir: Path

    def clean(self, table: str = "transactions") -> pd.DataFrame:
        return pq.read_table(self.dir / f"{table}.parquet").to_pandas()

    def quarantine(self) -> pd.DataFrame:
        return pq.read_table(self.dir / "quarantine.parquet").to_pandas()

    def one_quarantined(self) -> pd.Series:
        q = self.quarantine()
        assert len(q) == 1, q
        return q.iloc[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def validate(tmp_path: Path, transactions: str | Path = GOOD_TX, *,
             interactions: str | Path | None = None, customers: str | Path | None = None,
             text: TextFormat | None = None, checks: Checks = CHECKS,
             column_maps: dict[str, dict[str, str]] | None = None,
             row_group_size: int = 1000) -> Run:
    """Validate the inputs (CSV text, or paths) and write every output under tmp_path/out."""
    inputs: dict[str, Path | None] = {}
    for name, value in (("transactions", transactions), ("interactions", interactions),
                        ("customers", customers)):
        inputs[name] = (write(tmp_path / f"{name}.csv", value) if isinstance(value, str)
                        else value)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    con = duckdb.connect()
    try:
        report = validate_inputs(con, inputs=inputs, text=text or TextFormat(), checks=checks,
                                 now=NOW, column_maps=column_maps)
        written = {name: write_clean_table(con, name, out / f"{name}.parquet",
                                           row_group_size=row_group_size)
                   for name in CLEAN_TABLES}
        written["quarantine"] = write_quarantine(con, out / "quarantine.parquet")
        check_written(report, written)
    finally:
        con.close()
    return Run(report, out)


# --------------------------------------------------------------------------
# One test per rule: exact rule id, table, line and a fragment of the reason
# --------------------------------------------------------------------------

INTERACTIONS_HEADER = "customer_id,timestamp,kind,satisfaction,resolved,resolution_hours"
CUSTOMERS_HEADER = "customer_id,signup_date,segment"
# Valid rows each file starts with; the last valid event is 2024-01-03.
GOOD = {
    "transactions": GOOD_TX,
    "interactions": f"{INTERACTIONS_HEADER}\nC1,2024-01-02,call,,,\n",
    "customers": f"{CUSTOMERS_HEADER}\nC1,2023-01-01,gold\nC2,2023-01-01,gold\n",
}

RULE_CASES = [
    # (rule, table, row appended to GOOD[table], fragment of the reason)
    ("customer_id_missing", "transactions", "   ,2024-01-03,3",
     'customer_id "   " is only whitespace'),
    ("customer_id_missing", "transactions", ",2024-01-03,4", "customer_id is empty"),
    ("timestamp_missing", "transactions", "C3,,3", "timestamp is empty"),
    ("timestamp_unparseable", "transactions", "C3,02/01/2024,3",
     'timestamp "02/01/2024" is not a valid ISO 8601 timestamp'),
    ("timestamp_too_old", "transactions", "C3,1985-06-01,3",
     'timestamp "1985-06-01" is before validate.min_timestamp 1990-01-01'),
    ("timestamp_in_future", "transactions", "C3,2099-12-31,3",
     "timestamp 2099-12-31 00:00:00 UTC is after 2024-01-04 00:00:00 UTC (the last valid "
     "event 2024-01-03 00:00:00 plus validate.max_future_days = 1)"),
    ("amount_missing", "transactions", "C3,2024-01-03,", "amount is empty"),
    ("amount_unparseable", "transactions", "C3,2024-01-03,12 EUR",
     "amount \"12 EUR\" is not a number with data.decimal '.' and data.thousands null"),
    ("malformed_line", "transactions", "C3,2024-01-03,3,extra",
     "Expected Number of Columns: 3 Found: 4"),
    ("exact_duplicate", "transactions", "C2,2024-01-03,5.5", "all fields equal to line 3 (kept)"),
    ("kind_unknown", "interactions", "C1,2024-01-02,refund_request,,,",
     'kind "refund_request" is not in data.interaction_kinds [call, complaint, survey]'),
    ("kind_unknown", "interactions", "C1,2024-01-02,,,,",
     "kind is empty; expected one of data.interaction_kinds [call, complaint, survey]"),
    ("satisfaction_unparseable", "interactions", "C1,2024-01-02,survey,great,,",
     'satisfaction "great" is not a number'),
    ("satisfaction_out_of_range", "interactions", "C1,2024-01-02,survey,7,,",
     'satisfaction "7" is outside data.satisfaction_range [1, 5]'),
    ("resolved_not_boolean", "interactions", "C1,2024-01-02,complaint,,maybe,",
     'resolved "maybe" is not a boolean (true/false, 1/0, yes/no, t/f)'),
    ("resolution_hours_unparseable", "interactions", "C1,2024-01-02,complaint,,true,soon",
     'resolution_hours "soon" is not a number'),
    ("resolution_hours_negative", "interactions", "C1,2024-01-02,complaint,,true,-2",
     'resolution_hours "-2" is negative'),
    ("signup_date_unparseable", "customers", "C3,31.12.2023,gold",
     'signup_date "31.12.2023" is not a valid ISO 8601 timestamp'),
    ("timestamp_too_old", "customers", "C4,1900-01-01,gold",
     'signup_date "1900-01-01" is before validate.min_timestamp'),
    ("timestamp_in_future", "customers", "C5,2099-12-31,gold",
     "signup_date 2099-12-31 00:00:00 UTC is after 2024-01-04"),
    ("duplicate_customer_id", "customers", "C1,2023-02-01,silver",
     'customer_id "C1" already appears on line 2 (kept)'),
]


def _case_lines() -> list[int]:
    """Line of each case in its file (header is line 1)."""
    lines, seen = [], {}
    for _, table, _, _ in RULE_CASES:
        seen[table] = seen.get(table, GOOD[table].count("\n")) + 1
        lines.append(seen[table])
    return lines


@pytest.fixture(scope="module")
def all_rules(tmp_path_factory) -> Run:
    """One validation of three files holding one row per rule case."""
    tmp_path = tmp_path_factory.mktemp("rules")
    files = {table: GOOD[table] + "".join(f"{row}\n" for _, t, row, _ in RULE_CASES if t == table)
             for table in GOOD}
    return validate(tmp_path, **files)


@pytest.mark.parametrize(("case", "line"), list(zip(RULE_CASES, _case_lines(), strict=True)),
                         ids=[f"{c[1]}-{c[0]}-{n}" for n, c in zip(_case_lines(), RULE_CASES,
                                                                   strict=True)])
def test_each_rule_quarantines_with_its_id_and_reason(all_rules, case, line):
    rule, table, _, reason = case
    q = all_rules.quarantine()
    row = q[(q["table"] == table) & (q["source_line"] == line)]

    assert len(row) == 1
    assert row["rule"].item() == rule
    assert row["source_file"].item() == str(all_rules.dir.parent / f"{table}.csv")
    assert reason in row["reason"].item()
    assert rule in RULES


def test_rule_counts_and_good_rows(all_rules):
    for table in GOOD:
        expected: dict[str, int] = {}
        for rule, t, _, _ in RULE_CASES:
            if t == table:
                expected[rule] = expected.get(rule, 0) + 1
        report = all_rules.report["tables"][table]
        assert report["quarantined_by_rule"] == expected
        assert report["rows_accepted"] == GOOD[table].count("\n") - 1
        assert report["reconciled"] is True


def test_a_row_breaking_several_rules_gets_the_first(tmp_path):
    run = validate(tmp_path, f"{GOOD_TX},not a date,abc\n")

    assert run.one_quarantined()["rule"] == "customer_id_missing"


def test_duplicates_of_a_rejected_row_keep_its_rule(tmp_path):
    run = validate(tmp_path, f"{GOOD_TX}C3,2024-01-03,abc\nC3,2024-01-03,abc\n")

    assert run.quarantine()["rule"].tolist() == ["amount_unparseable"] * 2


def test_events_after_the_run_never_set_the_last_valid_event(tmp_path):
    # 2025-12-01 is after NOW: it cannot have happened, so the reference stays
    # the last event before NOW and the row is in the future.
    run = validate(tmp_path, f"{GOOD_TX}C3,2025-12-01,1\n")

    assert run.report["last_valid_event"] == "2024-01-03 00:00:00"
    assert run.one_quarantined()["rule"] == "timestamp_in_future"


def test_custom_timestamp_format_names_it_in_the_reason(tmp_path):
    content = f"{TX_HEADER}\nC1,02/01/2024 10:30,1\nC2,2024-01-02,1\n"
    run = validate(tmp_path, content, text=TextFormat(timestamp_format="%d/%m/%Y %H:%M"))

    assert run.clean()["timestamp"].tolist() == [pd.Timestamp("2024-01-02 10:30")]
    row = run.one_quarantined()
    assert row["rule"] == "timestamp_unparseable"
    assert "does not match data.timestamp_format '%d/%m/%Y %H:%M'" in row["reason"]


def test_raw_row_is_kept_as_json_of_the_original_strings(tmp_path):
    run = validate(tmp_path, f"{TX_HEADER},note\nC1,2024-01-02,1,a\n007 ,2024-01-02,x,\"b,c\"\n")

    raw = run.one_quarantined()["raw"]
    assert raw == '{"customer_id":"007 ","timestamp":"2024-01-02","amount":"x","note":"b,c"}'


# --------------------------------------------------------------------------
# Reconciliation and line numbers on a messy file
# --------------------------------------------------------------------------

MESSY = (
    "customer_id,timestamp,amount,note\n"          # 1
    "C1,2024-01-01,10,ok\n"                         # 2  accepted
    "C2,2024-01-02,5\n"                             # 3  malformed (3 fields)
    'C3,2024-01-03,7,"two\nlines"\n'                # 4-5 accepted
    "\n"                                            # 6  blank
    "C4,2024-01-04,1,x,extra\n"                     # 7  malformed (5 fields)
    "C5,2024-01-05,-3,refund\n"                     # 8  accepted, refund
    "C5,2024-01-05,-3,refund\n"                     # 9  exact duplicate
    ",2024-01-06,1,\n"                              # 10 customer_id_missing
    "C6,not a date,1,\n"                            # 11 timestamp_unparseable
    "C7,2024-01-07,abc,\n"                          # 12 amount_unparseable
    "C8,2099-12-31,1,\n"                            # 13 timestamp_in_future
    "\n"                                            # 14 blank
    "C9,2024-01-08,0,zero\n"                        # 15 accepted, zero amount
    "\n"                                            # trailing blank line
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_messy_file_reconciles_and_keeps_physical_line_numbers(tmp_path, newline):
    run = validate(tmp_path, MESSY.replace("\n", newline))

    t = run.report["tables"]["transactions"]
    assert t["rows_read"] == 11
    assert t["rows_accepted"] == 4
    assert t["rows_quarantined"] == 7
    assert t["rows_read"] == t["rows_accepted"] + t["rows_quarantined"]
    assert t["reconciled"] is True
    assert t["quarantined_by_rule"] == {
        "malformed_line": 2, "customer_id_missing": 1, "timestamp_unparseable": 1,
        "amount_unparseable": 1, "timestamp_in_future": 1, "exact_duplicate": 1,
    }
    assert t["exact_duplicates_removed"] == 1
    assert t["refunds_kept"] == 1
    assert run.report["totals"]["reconciled"] is True
    assert sorted(run.clean()["source_line"]) == [2, 4, 8, 15]
    q = run.quarantine().set_index("source_line")["rule"].to_dict()
    assert q == {3: "malformed_line", 7: "malformed_line", 9: "exact_duplicate",
                 10: "customer_id_missing", 11: "timestamp_unparseable",
                 12: "amount_unparseable", 13: "timestamp_in_future"}


def test_reconcile_raises_when_counts_do_not_add_up():
    t = {"rows_read": 5, "rows_accepted": 3, "rows_quarantined": 1, "reconciled": False}
    report = {"tables": {"transactions": t}, "totals": {"reconciled": False}}
    with pytest.raises(ReconciliationError, match="transactions: 5 rows read but 3 accepted"):
        reconcile(report)


def test_check_written_raises_when_files_hold_other_counts(tmp_path):
    run = validate(tmp_path)
    written = {"transactions": 1, "interactions": 0, "customers": 0, "quarantine": 0}
    with pytest.raises(ReconciliationError, match="clean transactions: 1 rows written, 2"):
        check_written(run.report, written)


# --------------------------------------------------------------------------
# Reading: column mapping, number formats, time zones, ids, formats
# --------------------------------------------------------------------------


def test_column_mapping_reads_renamed_columns(tmp_path):
    content = "Kunde,Datum,Betrag,Kanal\nK1,2024-01-02,3.5,web\n"
    maps = {"transactions": {"customer_id": "Kunde", "timestamp": "Datum", "amount": "Betrag",
                             "channel": "Kanal"}}
    run = validate(tmp_path, content, column_maps=maps)

    clean = run.clean()
    assert clean[["customer_id", "amount", "channel"]].to_dict("records") == [
        {"customer_id": "K1", "amount": 3.5, "channel": "web"}]
    assert run.report["tables"]["transactions"]["columns"]["customer_id"] == "Kunde"
    assert "category" in run.report["tables"]["transactions"]["optional_columns_absent"]


def test_decimal_comma_and_thousands_separator(tmp_path):
    content = ("customer_id;timestamp;amount;quantity\n"
               "C1;2024-01-02;1.234,50;2\n"
               "C2;2024-01-02;-12,00;1,5\n"
               "C3;2024-01-02;0,5;\n"
               "C4;2024-01-02;1,234.50;\n"
               "C5;2024-01-02;12.5;\n")
    run = validate(tmp_path, content,
                   text=TextFormat(delimiter=";", decimal=",", thousands="."))

    clean = run.clean().set_index("customer_id")
    assert clean["amount"].to_dict() == {"C1": 1234.5, "C2": -12.0, "C3": 0.5}
    assert clean.loc["C2", "quantity"] == 1.5
    assert clean["is_refund"].to_dict() == {"C1": False, "C2": True, "C3": False}
    rules = run.quarantine().set_index("source_line")["rule"].to_dict()
    # "1,234.50" has a misplaced separator; "12.5" would be 125 with "." as thousands.
    assert rules == {5: "amount_unparseable", 6: "amount_unparseable"}


def test_space_as_thousands_separator_accepts_no_break_spaces(tmp_path):
    content = f"{TX_HEADER}\nC1,2024-01-02,\"1 234,5\"\nC2,2024-01-02,\"1\u00a0000\"\n"
    run = validate(tmp_path, content, text=TextFormat(decimal=",", thousands=" "))

    assert run.clean().set_index("customer_id")["amount"].to_dict() == {"C1": 1234.5,
                                                                         "C2": 1000.0}


def test_naive_timestamps_in_a_zone_and_offsets_become_naive_utc(tmp_path):
    content = (f"{TX_HEADER}\n"
               "C1,2024-01-15 12:00:00,1\n"        # CET (+01:00)
               "C2,2024-07-15 12:00:00,1\n"        # CEST (+02:00)
               "C3,2024-07-15T12:00:00+05:30,1\n"  # explicit offset wins
               "C4,2024-07-15T12:00:00Z,1\n"
               "C5,2024-07-15,1\n")
    run = validate(tmp_path, content, text=TextFormat(timezone="Europe/Paris"))

    clean = run.clean().set_index("customer_id")["timestamp"]
    assert clean.to_dict() == {
        "C1": pd.Timestamp("2024-01-15 11:00"),
        "C2": pd.Timestamp("2024-07-15 10:00"),
        "C3": pd.Timestamp("2024-07-15 06:30"),
        "C4": pd.Timestamp("2024-07-15 12:00"),
        "C5": pd.Timestamp("2024-07-14 22:00"),
    }
    assert run.clean()["timestamp"].dtype == "datetime64[us]"


def test_strptime_format_with_offset(tmp_path):
    content = f"{TX_HEADER}\nC1,15/07/2024 12:00 +0200,1\n"
    run = validate(tmp_path, content, text=TextFormat(timestamp_format="%d/%m/%Y %H:%M %z",
                                                      timezone="America/New_York"))

    assert run.clean()["timestamp"].tolist() == [pd.Timestamp("2024-07-15 10:00")]


@pytest.mark.parametrize("value", ["epoch", "infinity", "2024-7-1", "20240701",
                                   "2024-07-01 12:00 Europe/Paris", "2024-02-30"])
def test_non_iso_timestamps_are_refused(tmp_path, value):
    run = validate(tmp_path, f"{GOOD_TX}C3,{value},1\n")

    assert run.one_quarantined()["rule"] == "timestamp_unparseable"


@pytest.mark.parametrize("value", ["1_000", "inf", "nan", "1e999", "0x10", "--1", ""])
def test_odd_amounts_are_refused(tmp_path, value):
    run = validate(tmp_path, f"{GOOD_TX}C3,2024-01-03,{value}\n")

    expected = "amount_missing" if value == "" else "amount_unparseable"
    assert run.one_quarantined()["rule"] == expected


def test_ids_keep_leading_zeros_unicode_and_lose_surrounding_whitespace(tmp_path):
    content = (f"{TX_HEADER}\n"
               "007,2024-01-02,1\n"
               "\t0042 ,2024-01-02,1\n"
               "Zoë,2024-01-02,1\n"
               "客户42,2024-01-02,1\n"
               "\u00a0ÅSA\u00a0,2024-01-02,1\n"
               "A B,2024-01-02,1\n")
    run = validate(tmp_path, content)

    clean = run.clean()
    assert sorted(clean["customer_id"]) == sorted(["007", "0042", "Zoë", "客户42", "ÅSA", "A B"])
    assert clean["bucket"].tolist() == [bucket_of(c) for c in clean["customer_id"]]


def test_bucket_is_duckdb_md5_number_modulo_partitions():
    con = duckdb.connect()
    ids = ["007", "C1", "Zoë", "客户42", "x" * 100]
    # N_PARTITIONS as a literal: a parameter would make the modulo a DOUBLE one.
    expected = [con.execute(f"SELECT CAST(md5_number(?) % {N_PARTITIONS} AS INTEGER)", [i])
                .fetchall()[0][0] for i in ids]
    assert [bucket_of(i) for i in ids] == expected
    assert bucket_of("abc") == 400  # fixed value: the hash must never change


def test_optional_numbers_that_do_not_parse_become_null_and_are_counted(tmp_path):
    content = ("customer_id,timestamp,amount,quantity,discount\n"
               "C1,2024-01-02,1,two,0.1\n"
               "C2,2024-01-02,1,3,10%\n"
               "C3,2024-01-02,1,,\n")
    run = validate(tmp_path, content)

    clean = run.clean().set_index("customer_id")
    assert clean["quantity"].isna().to_dict() == {"C1": True, "C2": False, "C3": True}
    assert clean["discount"].isna().to_dict() == {"C1": False, "C2": True, "C3": True}
    assert run.report["tables"]["transactions"]["optional_values_nulled"] == {
        "quantity": 1, "discount": 1}
    assert "set to null" in run.report["policies"]["unparseable_optional_numbers"]


def test_interaction_values_are_normalised(tmp_path):
    content = (f"{INTERACTIONS_HEADER}\n"
               "C1,2024-01-02, Complaint ,4,YES,1.5\n"
               "C1,2024-01-03,CALL,,f,\n"
               "C2,2024-01-04,survey,5,0,0\n")
    run = validate(tmp_path, interactions=content)

    clean = run.clean("interactions").sort_values("timestamp")
    assert clean["kind"].tolist() == ["complaint", "call", "survey"]
    assert clean["resolved"].tolist() == [True, False, False]
    assert clean["satisfaction"].isna().tolist() == [False, True, False]


def test_signup_date_accepts_the_date_part_of_the_timestamp_format(tmp_path):
    customers = f"{CUSTOMERS_HEADER}\nC1,31/12/2023,gold\nC2,31/12/2023 08:00,\nC3,,\n"
    run = validate(tmp_path, f"{TX_HEADER}\nC1,02/01/2024 10:00,1\n", customers=customers,
                   text=TextFormat(timestamp_format="%d/%m/%Y %H:%M"))

    clean = run.clean("customers").set_index("customer_id")
    assert clean.loc["C1", "signup_date"] == pd.Timestamp("2023-12-31")
    assert clean.loc["C2", "signup_date"] == pd.Timestamp("2023-12-31 08:00")
    assert pd.isna(clean.loc["C3", "signup_date"])
    assert clean["segment"].isna().to_dict() == {"C1": False, "C2": True, "C3": True}


def test_utf8_bom_and_gzip_are_read(tmp_path):
    path = tmp_path / "tx.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(("\ufeff" + GOOD_TX + "\nC3,2024-01-03\nC4,2024-01-03,1\n").encode("utf-8"))
    run = validate(tmp_path, path)

    assert run.report["tables"]["transactions"]["rows_accepted"] == 3
    assert run.clean()["source_line"].max() == 6
    assert run.one_quarantined()[["rule", "source_line"]].tolist() == ["malformed_line", 5]


def test_parquet_input_keeps_native_types_and_row_numbers(tmp_path):
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.table({
        "customer_id": ["007", "C2", None],
        "timestamp": pa.array([dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3),
                               dt.datetime(2024, 1, 3)], pa.timestamp("ns")),
        "amount": [1.5, float("nan"), 2.0],
    }), path)
    run = validate(tmp_path, path)

    clean = run.clean()
    assert clean[["customer_id", "amount", "source_line"]].to_dict("records") == [
        {"customer_id": "007", "amount": 1.5, "source_line": 1}]
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {2: "amount_unparseable", 3: "customer_id_missing"}
    assert q.loc[2, "raw"] == ('{"customer_id":"C2","timestamp":"2024-01-03 00:00:00",'
                               '"amount":"nan"}')


def test_parquet_interactions_with_typed_columns(tmp_path):
    path = tmp_path / "interactions.parquet"
    paris = dt.timezone(dt.timedelta(hours=2))
    pq.write_table(pa.table({
        "customer_id": [7, 8],  # an integer id becomes text
        "timestamp": pa.array([dt.datetime(2024, 1, 2, 12, tzinfo=paris)] * 2,
                              pa.timestamp("us", tz="Europe/Paris")),
        "kind": ["call", "survey"],
        "satisfaction": pa.array([4, 9], pa.int8()),
        "resolved": [True, None],
    }), path)
    run = validate(tmp_path, interactions=path)

    clean = run.clean("interactions")
    assert clean[["customer_id", "timestamp", "satisfaction", "resolved"]].to_dict("records") == [
        {"customer_id": "7", "timestamp": pd.Timestamp("2024-01-02 10:00"), "satisfaction": 4.0,
         "resolved": True}]
    assert run.one_quarantined()["rule"] == "satisfaction_out_of_range"


# Retention contacts: the action each chosen customer was chosen for, and whether it was
# held out (a control). Line numbers are the file's (the header is line 1).
CONTACT_CHECKS = Checks(interaction_kinds=("call", "retention_contact"))
CONTACTS = ("customer_id,timestamp,kind,action,control\n"
            "C1,2024-01-02,retention_contact,protect,false\n"
            "C2,2024-01-02,retention_contact, Regain ,\n"
            "C3,2024-01-02,retention_contact,enhance,TRUE\n"
            "C4,2024-01-02,retention_contact,,false\n"
            "C5,2024-01-02,retention_contact,harvest,true\n"
            "C6,2024-01-02,retention_contact,protect,maybe\n"
            "C7,2024-01-02,retention_contact,bogus,maybe\n"
            "C8,2024-01-02,call,protect,maybe\n"
            "C9,2024-01-02,call,,\n")
SPENDING = "one of the actions that spend [start, protect, re_engineer, enhance, regain]"


def test_retention_contacts_keep_action_and_control_and_quarantine_bad_ones(tmp_path):
    run = validate(tmp_path, interactions=CONTACTS, checks=CONTACT_CHECKS)

    clean = run.clean("interactions").sort_values("source_line")
    assert clean["source_line"].tolist() == [2, 3, 4, 9, 10]
    assert clean["action"].fillna("").tolist() == ["protect", "regain", "enhance", "", ""]
    # An empty control is false; on other kinds both are null, whatever the file says.
    assert clean["control"].tolist() == [False, False, True, None, None]
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {5: "action_invalid", 6: "action_invalid",
                                   7: "control_not_boolean", 8: "action_invalid"}
    assert q.loc[5, "reason"] == f"action is empty; a retention_contact names {SPENDING}"
    assert q.loc[6, "reason"] == f'action "harvest" is not {SPENDING}'
    assert q.loc[7, "reason"] == ('control "maybe" is not a boolean (true/false, 1/0, yes/no, '
                                  't/f; empty means false)')
    report = run.report["tables"]["interactions"]
    assert report["rows_read"] == 9 == report["rows_accepted"] + report["rows_quarantined"]
    assert report["quarantined_by_rule"] == {"action_invalid": 3, "control_not_boolean": 1}
    assert report["optional_values_nulled"] == {"action": 1, "control": 1}
    assert report["reconciled"] is True
    assert "retention_contact_fields" in run.report["policies"]


def test_retention_contacts_are_a_kind_of_the_vocabulary(tmp_path):
    run = validate(tmp_path, interactions=CONTACTS)  # kinds: call, complaint, survey

    q = run.quarantine()
    assert set(q.loc[q["source_line"] <= 8, "rule"]) == {"kind_unknown"}
    assert run.report["tables"]["interactions"]["rows_accepted"] == 2


def test_parquet_retention_contacts_with_a_boolean_control(tmp_path):
    path = tmp_path / "interactions.parquet"
    pq.write_table(pa.table({
        "customer_id": ["C1", "C2", "C3"],
        "timestamp": pa.array([dt.datetime(2024, 1, 2)] * 3, pa.timestamp("us")),
        "kind": ["retention_contact", "retention_contact", "call"],
        "action": ["REGAIN", "protect", None],
        "control": [True, None, False],
    }), path)
    run = validate(tmp_path, interactions=path, checks=CONTACT_CHECKS)

    clean = run.clean("interactions").sort_values("customer_id")
    assert clean["action"].fillna("").tolist() == ["regain", "protect", ""]
    assert clean["control"].tolist() == [True, False, None]
    assert run.report["tables"]["interactions"]["optional_values_nulled"] == {
        "action": 0, "control": 1}


def test_interactions_without_action_and_control_validate_as_before(tmp_path):
    content = f"{INTERACTIONS_HEADER}\nC1,2024-01-02,call,,,\nC2,2024-01-03,complaint,,true,2\n"
    run = validate(tmp_path, interactions=content)

    report = run.report["tables"]["interactions"]
    assert report["rows_accepted"] == 2 and report["quarantined_by_rule"] == {}
    assert {"action", "control"} <= set(report["optional_columns_absent"])
    assert report["optional_values_nulled"] == {"action": 0, "control": 0}
    clean = run.clean("interactions")
    assert clean["action"].isna().all() and clean["control"].isna().all()
    assert list(clean.columns) == CLEAN_TABLES["interactions"].names


def test_directory_of_parquet_files(tmp_path):
    folder = tmp_path / "tx"
    folder.mkdir()
    for i, part in enumerate((["C1", "C2"], ["C3"])):
        pq.write_table(pa.table({"customer_id": part, "timestamp": ["2024-01-02"] * len(part),
                                 "amount": ["1"] * len(part)}), folder / f"part-{i}.parquet")
    (folder / "_SUCCESS").write_text("")
    run = validate(tmp_path, folder)

    clean = run.clean().sort_values("customer_id")
    assert clean["source_file"].tolist() == [str(folder / "part-0.parquet")] * 2 + [
        str(folder / "part-1.parquet")]
    assert clean["source_line"].tolist() == [1, 2, 1]


# --------------------------------------------------------------------------
# Outputs: schema, order, optional tables
# --------------------------------------------------------------------------


def test_outputs_have_exactly_the_declared_arrow_schemas(tmp_path):
    run = validate(tmp_path, MESSY,
                   interactions=f"{INTERACTIONS_HEADER}\nC1,2024-01-02,call,3,true,1\n",
                   customers=f"{CUSTOMERS_HEADER}\nC1,2023-01-01,gold\n")

    for name, table in CLEAN_TABLES.items():
        assert pq.read_schema(run.dir / f"{name}.parquet").remove_metadata().equals(
            table.arrow_schema()), name
    assert pq.read_schema(run.dir / "quarantine.parquet").remove_metadata().equals(
        QUARANTINE.arrow_schema())


def test_transactions_only_writes_empty_tables_with_the_schema(tmp_path):
    run = validate(tmp_path)

    for name in ("interactions", "customers"):
        table = pq.read_table(run.dir / f"{name}.parquet")
        assert table.num_rows == 0
        assert table.schema.remove_metadata().equals(CLEAN_TABLES[name].arrow_schema())
        assert run.report["tables"][name]["source_file"] is None
        assert run.report["tables"][name]["skipped"] is True
        assert run.report["tables"][name]["rows_read"] == 0


def test_empty_optional_files_are_fine(tmp_path):
    customers = write(tmp_path / "customers.csv", "")
    run = validate(tmp_path, interactions=f"{INTERACTIONS_HEADER}\n", customers=customers)

    assert run.report["tables"]["interactions"]["rows_read"] == 0
    assert run.report["tables"]["customers"]["rows_read"] == 0
    assert run.report["tables"]["customers"]["format"] == "empty"
    assert run.report["totals"]["rows_read"] == 2


def test_rows_are_sorted_and_row_groups_clustered_by_bucket(tmp_path):
    rows = "".join(f"C{i % 37},2024-01-{1 + i % 28:02d},{i}\n" for i in range(300))
    run = validate(tmp_path, f"{TX_HEADER}\n{rows}", row_group_size=64)

    clean = run.clean()
    keys = list(zip(clean["bucket"], clean["customer_id"], clean["timestamp"],
                    clean["source_line"], strict=True))
    assert keys == sorted(keys)
    meta = pq.ParquetFile(run.dir / "transactions.parquet").metadata
    assert meta.num_row_groups == 5
    column = CLEAN_TABLES["transactions"].names.index("bucket")
    bounds = [(meta.row_group(i).column(column).statistics.min,
               meta.row_group(i).column(column).statistics.max)
              for i in range(meta.num_row_groups)]
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(bounds, bounds[1:], strict=False))


# --------------------------------------------------------------------------
# Fatal problems: InputError naming the file, the column and the params key
# --------------------------------------------------------------------------


def test_missing_file(tmp_path):
    write(tmp_path / "transaction.csv", GOOD_TX)
    with pytest.raises(InputError, match=re.escape(
            f"{tmp_path / 'transactions.csv'}: file not found (data.transactions in "
            f"params.yaml). Files with close names in {tmp_path}: transaction.csv")):
        validate(tmp_path, tmp_path / "transactions.csv")


def test_missing_required_column_suggests_close_match_and_params_key(tmp_path):
    content = "customer_id,timestamp,Amount_EUR\nC1,2024-01-02,1\n"
    with pytest.raises(InputError, match=re.escape("transactions.csv: column 'amount' not found")
                       ) as err:
        validate(tmp_path, content)
    message = str(err.value)
    assert "Close matches: 'Amount_EUR'" in message
    assert "Set data.columns.transactions.amount: Amount_EUR in params.yaml" in message


def test_mapped_column_missing_names_the_mapping(tmp_path):
    with pytest.raises(InputError, match=re.escape(
            "column 'Betrag' not found (set by data.columns.transactions.amount)")):
        validate(tmp_path, column_maps={"transactions": {"amount": "Betrag"}})


def test_unknown_column_map_key(tmp_path):
    with pytest.raises(InputError, match=re.escape(
            "data.columns.transactions in params.yaml has keys ['amout']")):
        validate(tmp_path, column_maps={"transactions": {"amout": "amount"}})


def test_semicolon_file_read_with_comma(tmp_path):
    content = "customer_id;timestamp;amount\nC1;2024-01-02;1,5\n"
    with pytest.raises(InputError, match=re.escape(
            "transactions.csv: the file looks ';'-delimited: set data.delimiter: ';'")):
        validate(tmp_path, content)


def test_truncated_parquet(tmp_path):
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.table({"customer_id": ["C1"], "timestamp": ["2024-01-02"],
                             "amount": ["1"]}), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(InputError, match=re.escape(
            f"{path}: not a readable Parquet file (truncated or corrupt?)")) as err:
        validate(tmp_path, path)
    assert "data.transactions" in str(err.value)


def test_unknown_extension(tmp_path):
    path = write(tmp_path / "tx.xlsx", GOOD_TX)
    with pytest.raises(InputError, match=re.escape("cannot tell the format of data.transactions")):
        validate(tmp_path, path)


@pytest.mark.parametrize("content", [TX_HEADER + "\n", ""], ids=["header-only", "empty"])
def test_empty_transactions_are_fatal(tmp_path, content):
    message = r"transactions\.csv: the file (has no data rows|is empty)"
    with pytest.raises(InputError, match=message):
        validate(tmp_path, content)


def test_no_parseable_transactions_is_fatal_and_says_why(tmp_path):
    content = f"{TX_HEADER}\nC1,02/01/2024,1\nC2,03/01/2024,1\n"
    with pytest.raises(InputError, match=re.escape(
            "transactions.csv: none of the 2 transactions rows passed validation")) as err:
        validate(tmp_path, content)
    message = str(err.value)
    assert "timestamp_unparseable: 2 rows (e.g. line 2:" in message
    assert "check data.timestamp_format in params.yaml" in message


def test_transactions_are_required():
    with pytest.raises(InputError, match="data.transactions is null"):
        validate_inputs(duckdb.connect(), inputs={"transactions": None}, text=TextFormat(),
                        checks=CHECKS, now=NOW)
