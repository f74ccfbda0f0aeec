"""The bad-input catalogue: what validation does with each kind of malformed input.

Read :data:`CASES` as documentation. Every case is one input (files written in
the test, or committed under ``tests/fixtures/bad_inputs/``) and its exact
outcome, one of:

* :class:`Fatal`: validation stops with an :class:`InputError` whose message
  names the file, the column or value and the parameter to change (the CLI
  exits with code 4; :data:`CLI_CASES` check that through ``churn validate``);
* :class:`Outcome`: the rows that break a rule are quarantined with their rule
  and reason, the others are accepted, and rows read = accepted + quarantined.

The cases that need more than validation (events after the scoring date, all
events after the cutoffs, a single customer, a customer with a million events)
and the names from params that reach SQL follow the table.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.engines.duckdb import build_features, connect
from features.validation import InputError, TextFormat, validate_inputs
from pipeline import features as features_stage
from pipeline import validate as validate_stage
from pipeline.cli import app
from pipeline.config import load_params
from pipeline.errors import EXIT_INPUT, EXIT_OK
from pipeline.paths import Paths
from tests.features.test_validation import CHECKS, GOOD_TX, NOW, TX_HEADER, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"
IX_HEADER = "customer_id,timestamp,kind,satisfaction"


# --------------------------------------------------------------------------
# How a case is written down
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A committed file under tests/fixtures/bad_inputs/."""

    name: str


#: A file built in the test: called with the folder and the table name, returns its path.
Builder = Callable[[Path, str], Path]


@dataclass(frozen=True)
class Fatal:
    """Validation stops. ``message`` is the whole message; ``{transactions}`` (or another
    table) stands for that file's path, ``{any}`` for text that DuckDB or Python words."""

    message: str


@dataclass(frozen=True)
class Outcome:
    """Validation goes on: ``accepted`` rows of ``table`` are clean, ``quarantined`` maps
    a source line to its (rule, reason), ``clean`` gives clean columns in file order,
    ``report`` further entries of the table's report."""

    accepted: int
    quarantined: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    clean: Mapping[str, list[Any]] = field(default_factory=dict)
    table: str = "transactions"
    report: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    id: str
    files: Mapping[str, str | bytes | Fixture | Builder]  # CSV text, raw bytes, or a file
    outcome: Fatal | Outcome
    text: TextFormat = TextFormat()
    maps: Mapping[str, Mapping[str, str]] | None = None


def parquet(columns: Mapping[str, pa.Array | list[Any]]) -> Builder:
    def build(folder: Path, table: str) -> Path:
        path = folder / f"{table}.parquet"
        pq.write_table(pa.table(dict(columns)), path)
        return path
    return build


def named(name: str, content: str) -> Builder:
    def build(folder: Path, table: str) -> Path:
        path = folder / name
        path.write_text(content, encoding="utf-8")
        return path
    return build


def absent(name: str, neighbour: str) -> Builder:
    """A path that does not exist, beside a file with a close name."""
    def build(folder: Path, table: str) -> Path:
        (folder / neighbour).write_text(GOOD_TX, encoding="utf-8")
        return folder / name
    return build


def tx(*rows: str, header: str = TX_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


ISO = ("is not a valid ISO 8601 timestamp (YYYY-MM-DD, optionally THH:MM[:SS[.ffffff]], hours "
       "00 to 23, and Z or a UTC offset +HH:MM from -14:00 to +14:00); if the file uses another "
       "format, set data.timestamp_format in params.yaml")
DEFAULT_NUMBERS = "is not a number with data.decimal '.' and data.thousands null"
NO_ROWS = "data.transactions must name a file with transactions."
PARIS = TextFormat(timezone="Europe/Paris")


CASES = [
    # ---- columns and layout ------------------------------------------------
    Case("missing_required_column", {"transactions": "customer_id,timestamp\nC1,2024-01-02\n"},
         Fatal("{transactions}: column 'amount' not found (the transactions contract column; "
               "its name in the file is set by data.columns.transactions.amount). The header "
               "has: 'customer_id', 'timestamp'. Close matches: none. Set "
               "data.columns.transactions.amount: <its name in the file> in params.yaml.")),
    Case("renamed_column_close_match", {"transactions": tx("C1,2024-01-02,1",
                                                          header="cust_id,timestamp,amount")},
         Fatal("{transactions}: column 'customer_id' not found (the transactions contract "
               "column; its name in the file is set by data.columns.transactions.customer_id). "
               "The header has: 'cust_id', 'timestamp', 'amount'. Close matches: 'cust_id'. "
               "Set data.columns.transactions.customer_id: cust_id in params.yaml.")),
    Case("renamed_column_mapped", {"transactions": tx("C1,2024-01-02,1",
                                                     header="cust_id,timestamp,amount")},
         Outcome(accepted=1, clean={"customer_id": ["C1"]}),
         maps={"transactions": {"customer_id": "cust_id"}}),
    Case("duplicated_header_column", {"transactions": tx("C1,2024-01-02,1,2",
                                                        header=f"{TX_HEADER},amount")},
         Fatal("{transactions}: column 'amount' appears 2 times in the header; rename the "
               "copies in the file or map transactions.amount to another column with "
               "data.columns.transactions.amount in params.yaml.")),
    Case("semicolon_delimiter", {"transactions": "customer_id;timestamp;amount\n"
                                                "C1;2024-01-02;12,50\n"},
         Fatal("{transactions}: the file looks ';'-delimited: set data.delimiter: ';' in "
               "params.yaml (with data.delimiter ',' the header reads as 1 column(s): "
               "['customer_id;timestamp;amount']).")),
    Case("semicolon_delimiter_configured", {"transactions": "customer_id;timestamp;amount\n"
                                                           "C1;2024-01-02;12,50\n"},
         Outcome(accepted=1, clean={"amount": [12.5]}),
         text=TextFormat(delimiter=";", decimal=",")),
    Case("ragged_and_unterminated_lines", {"transactions": tx("C1,2024-01-02,1",
                                                             "C2,2024-01-02",
                                                             'C3,2024-01-04,"7')},
         Outcome(accepted=1, quarantined={
             3: ("malformed_line", "malformed CSV line (MISSING COLUMNS: {any}; read with "
                                   "data.delimiter ',')"),
             4: ("malformed_line", "malformed CSV line (UNQUOTED VALUE: {any}; read with "
                                   "data.delimiter ',')")})),
    # ---- encodings -----------------------------------------------------------
    Case("excel_bom_crlf", {"transactions": Fixture("excel_bom.csv")},
         Outcome(accepted=2, clean={"customer_id": ["00123", "C2"], "amount": [12.5, -4.0],
                                    "source_line": [2, 3]})),
    Case("utf16_file", {"transactions": Fixture("utf16.csv")},
         Fatal("{transactions}: the file is UTF-16 text (it starts with a UTF-16 byte-order "
               "mark) but data.encoding is 'utf-8': set data.encoding: utf-16 in params.yaml, or "
               "save the file as UTF-8.")),
    Case("utf16_file_configured", {"transactions": Fixture("utf16.csv")},
         Outcome(accepted=1, clean={"customer_id": ["C1"]}), text=TextFormat(encoding="utf-16")),
    Case("cp1252_excel_export", {"transactions": tx("C1,2024-01-02,1",
                                                   "Zoë,2024-01-02,1").encode("cp1252")},
         Outcome(accepted=2, clean={"customer_id": ["C1", "Zoë"]}),
         text=TextFormat(encoding="cp1252")),
    Case("latin1_row", {"transactions": tx("C1,2024-01-02,1",
                                          "Zoë,2024-01-02,1").encode("latin-1")},
         Outcome(accepted=1, quarantined={
             3: ("malformed_line", "malformed CSV line (INVALID ENCODING: byte 0xEB at "
                                   "character 3 is not 'utf-8' text; in cp1252 the line reads "
                                   "'Zoë,2024-01-02,1': if the file was saved that way (Excel, "
                                   "older systems), set data.encoding: cp1252 in params.yaml; "
                                   "read with data.delimiter ',')")})),
    Case("nul_bytes", {"transactions": tx("C1,2024-01-02,1", "C\x002,2024-01-02,1",
                                         "\x00" * 64)},
         Outcome(accepted=1, quarantined={
             3: ("malformed_line", "malformed CSV line (NUL BYTE: the line holds 1 NUL "
                                   "character(s), which no text export writes: the file was "
                                   "damaged (e.g. padded with zeros by an interrupted write); "
                                   "read with data.delimiter ',')"),
             4: ("malformed_line", "malformed CSV line (NUL BYTE: the line holds 64 NUL {any}")})),
    # ---- line breaks and quotes ----------------------------------------------
    Case("old_mac_line_endings", {"transactions": tx("C1,2024-01-02,1", "C2,2024-01-03,2"
                                                    ).replace("\n", "\r").encode()},
         Outcome(accepted=2, clean={"source_line": [2, 3]})),
    Case("mixed_line_endings", {"transactions": (f"{TX_HEADER}\nC1,2024-01-02,1\r\n"
                                                "C2,2024-01-03,2\nC3,2024-01-04,3\r\n").encode()},
         Outcome(accepted=3, clean={"source_line": [2, 3, 4]})),
    Case("unterminated_quote", {"transactions": tx("C1,2024-01-02,1", '"C2,2024-01-03,2',
                                                  "C3,2024-01-04,3", "C4,2024-01-05,4")},
         # One line is lost to the quote, never the rest of the file.
         Outcome(accepted=3, clean={"source_line": [2, 4, 5]}, quarantined={
             3: ("malformed_line", "malformed CSV line (UNQUOTED VALUE: unterminated quote: the "
                                   "quoted value opened on this line is not closed before the "
                                   "end of the file; read with data.delimiter ',')")})),
    # ---- amounts -------------------------------------------------------------
    Case("decimal_comma_quoted", {"transactions": tx('C1,2024-01-02,"12,50"', "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "amount_unparseable", f'amount "12,50" {DEFAULT_NUMBERS}; with data.decimal: \',\' '
                                   f"in params.yaml it reads as a number")})),
    Case("decimal_comma_unquoted", {"transactions": tx("C1,2024-01-02,12,50", "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "malformed_line", "malformed CSV line (TOO MANY COLUMNS: Expected Number of "
                               "Columns: 3 Found: 4; read with data.delimiter ',')")})),
    Case("thousands_separator", {"transactions": tx('C1,2024-01-02,"1,234.50"', "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "amount_unparseable", f'amount "1,234.50" {DEFAULT_NUMBERS}; with data.thousands: '
                                   f"',' in params.yaml it reads as a number")})),
    Case("thousands_separator_configured",
         {"transactions": tx('C1,2024-01-02,"1,234.50"', 'C2,2024-01-02,"-1,000"')},
         Outcome(accepted=2, clean={"amount": [1234.5, -1000.0]}),
         text=TextFormat(thousands=",")),
    Case("european_number_format", {"transactions": tx('C1,2024-01-02,"1.234,50"',
                                                      "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "amount_unparseable", f'amount "1.234,50" {DEFAULT_NUMBERS}; with data.decimal: '
                                   f"',' and data.thousands: '.' in params.yaml it reads as a "
                                   f"number")})),
    Case("currency_symbol", {"transactions": tx("C1,2024-01-02,€12.50", "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "amount_unparseable", f'amount "€12.50" {DEFAULT_NUMBERS}')})),
    Case("implausible_amounts", {"transactions": tx("C1,2024-01-02,1e308", "C1,2024-01-02,1e26",
                                                   "C1,2024-01-02,-2000000", "C1,2024-01-02,12")},
         # Stopped at the door: no later stage sums them.
         Outcome(accepted=1, quarantined={line: (
             "amount_out_of_range", f'amount "{value}" is outside validate.amount_range '
                                    f"[-1000000, 1000000]: not a plausible amount of one "
                                    f"transaction")
             for line, value in ((2, "1e308"), (3, "1e26"), (4, "-2000000"))})),
    Case("implausible_quantities_and_discounts", {"transactions": tx(
        "C1,2024-01-02,10,-5,0", "C1,2024-01-03,-10,-5,0", "C1,2024-01-04,10,1e308,0",
        "C1,2024-01-05,10,1,-3", "C1,2024-01-06,10,2,1.5",
        header=f"{TX_HEADER},quantity,discount")},
         # A refund may carry a negative quantity; a purchase may not.
         Outcome(accepted=2, clean={"quantity": [-5.0, 2.0]}, quarantined={
             2: ("quantity_out_of_range", 'quantity "-5" is outside validate.quantity_range '
                                          "[0, 1000000]: not a plausible quantity of one "
                                          "transaction"),
             4: ("quantity_out_of_range", 'quantity "1e308" is outside {any}'),
             5: ("discount_out_of_range", 'discount "-3" is outside validate.discount_range '
                                          "[0, 1000000]: not a plausible discount of one "
                                          "transaction")})),
    Case("refunds_and_zero_amounts", {"transactions": tx("C1,2024-01-02,-4.5", "C1,2024-01-02,0",
                                                        "C1,2024-01-03,12")},
         Outcome(accepted=3, clean={"amount": [-4.5, 0.0, 12.0],
                                    "is_refund": [True, False, False]},
                 report={"refunds_kept": 1})),
    # ---- timestamps ----------------------------------------------------------
    Case("dates_day_first", {"transactions": tx("C1,31/12/2023,1", "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "timestamp_unparseable", f'timestamp "31/12/2023" {ISO}; it matches '
                                      f"data.timestamp_format '%d/%m/%Y'")})),
    Case("dates_ambiguous_day_month", {"transactions": tx("C1,01/02/2024 10:30,1",
                                                         "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "timestamp_unparseable", f'timestamp "01/02/2024 10:30" {ISO}; it matches '
                                      f"data.timestamp_format '%d/%m/%Y %H:%M' or "
                                      f"'%m/%d/%Y %H:%M'")})),
    Case("dates_all_day_first", {"transactions": tx("C1,31/12/2023,1", "C2,30/12/2023,3")},
         Fatal(f"{{transactions}}: none of the 2 transactions rows passed validation. Most "
               f"frequent problems: timestamp_unparseable: 2 rows (e.g. line 2: timestamp "
               f"\"31/12/2023\" {ISO}; it matches data.timestamp_format '%d/%m/%Y'; check "
               f"data.timestamp_format in params.yaml)")),
    Case("dates_configured", {"transactions": tx("C1,31/12/2023 10:30,1")},
         Outcome(accepted=1, clean={"timestamp": [pd.Timestamp("2023-12-31 10:30")]}),
         text=TextFormat(timestamp_format="%d/%m/%Y %H:%M")),
    Case("unix_epoch_seconds", {"transactions": tx("C1,1704067200,1", "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "timestamp_unparseable", f'timestamp "1704067200" {ISO}; it looks like a Unix '
                                      f"epoch number: set data.timestamp_unit ('s', 'ms', 'us' "
                                      f"or 'ns') in params.yaml if it is one, or export "
                                      f"timestamps as ISO 8601 text")})),
    Case("unix_epoch_seconds_configured", {"transactions": tx("C1,1704067200,1")},
         Outcome(accepted=1, clean={"timestamp": [pd.Timestamp("2024-01-01")]}),
         text=TextFormat(timestamp_unit="s")),
    Case("placeholder_1970", {"transactions": tx("C1,1970-01-01,1", "C2,2024-01-02,3")},
         Outcome(accepted=1, quarantined={2: (
             "timestamp_too_old", 'timestamp "1970-01-01" is before validate.min_timestamp '
                                  "1990-01-01 00:00:00")})),
    Case("mixed_offsets_and_naive", {"transactions": tx("C1,2024-03-01T10:00:00+01:00,1",
                                                       "C1,2024-03-01T10:00:00Z,1",
                                                       "C1,2024-03-01 10:00:00,1",
                                                       "C1,2024-07-01 10:00:00,1",
                                                       "C1,2024-03-01T10:00:00-0500,1")},
         # Offsets are applied; naive times are in data.timezone (CET, then CEST).
         Outcome(accepted=5, clean={"timestamp": [pd.Timestamp(t) for t in (
             "2024-03-01 09:00", "2024-03-01 10:00", "2024-03-01 09:00", "2024-07-01 08:00",
             "2024-03-01 15:00")]}),
         text=PARIS),
    Case("placeholder_2099", {"transactions": tx("C1,2024-01-02,1", "C1,2099-12-31,1")},
         Outcome(accepted=1, quarantined={3: (
             "timestamp_in_future", "timestamp 2099-12-31 00:00:00 UTC is after 2024-01-03 "
                                    "00:00:00 UTC (the last valid event 2024-01-02 00:00:00 "
                                    "plus validate.max_future_days = 1)")})),
    Case("every_event_after_the_run", {"transactions": tx("C1,2031-05-01,1", "C2,2031-06-01,1")},
         Fatal("{transactions}: none of the 2 transactions rows passed validation. Most "
               "frequent problems: timestamp_in_future: 2 rows (e.g. line 2: timestamp "
               "2031-05-01 00:00:00 UTC is after 2025-06-02 00:00:00 UTC (the time of the run "
               "plus validate.max_future_days = 1; no valid event is dated before the run); "
               "every parsed event is after the time of the run: check the dates in the file "
               "(day/month order, data.timestamp_format, the year) and the clock of this "
               "machine)")),
    # ---- customer ids --------------------------------------------------------
    Case("null_and_empty_ids", {"transactions": tx(",2024-01-02,1", "   ,2024-01-02,1",
                                                  "NULL,2024-01-02,1", "\\N,2024-01-02,1",
                                                  "None,2024-01-02,1", "N/A,2024-01-02,1",
                                                  "C1,2024-01-02,1")},
         Outcome(accepted=1, quarantined={
             2: ("customer_id_missing", "customer_id is empty"),
             3: ("customer_id_missing", 'customer_id "   " is only whitespace'),
             4: ("customer_id_missing", 'customer_id "NULL" is a null marker, not an id'),
             5: ("customer_id_missing", 'customer_id "\\\\N" is a null marker, not an id'),
             6: ("customer_id_missing", 'customer_id "None" is a null marker, not an id'),
             7: ("customer_id_missing", 'customer_id "N/A" is a null marker, not an id')})),
    Case("parquet_null_id", {"transactions": parquet({"customer_id": [None, "C1"],
                                                      "timestamp": ["2024-01-02"] * 2,
                                                      "amount": [1.0, 2.0]})},
         Outcome(accepted=1, quarantined={1: ("customer_id_missing", "customer_id is empty")})),
    Case("leading_zero_ids", {"transactions": tx("00123,2024-01-02,1", "0123,2024-01-02,1",
                                                "123,2024-01-02,1")},
         # Three customers: ids are text, never numbers.
         Outcome(accepted=3, clean={"customer_id": ["00123", "0123", "123"]})),
    Case("parquet_float_ids", {"transactions": parquet({"customer_id": [123.0, 7.0],
                                                        "timestamp": ["2024-01-02"] * 2,
                                                        "amount": [1.0, 2.0]})},
         Fatal("{transactions}: column 'customer_id' (data.transactions customer_id) is stored "
               "as DOUBLE (e.g. '123.0'); an id stored as a fractional number is not its text "
               "(123 reads as '123.0', leading zeros are gone, ids above 2**53 change). Export "
               "the file again with customer_id as text (a string column) from the system that "
               "holds the ids; converting the numbers afterwards cannot bring the lost digits "
               "back.")),
    Case("invisible_characters_in_ids", {"transactions": tx(
        "C1\u200b,2024-01-02,1", "\u2060C1,2024-01-03,1", "\u200b\u200d,2024-01-04,1")},
         # Zero-width characters are removed: one customer C1, counted in ids_cleaned.
         Outcome(accepted=2, clean={"customer_id": ["C1", "C1"]}, report={"ids_cleaned": 2},
                 quarantined={4: ("customer_id_missing", 'customer_id "\u200b\u200d" holds only '
                                                         "invisible characters")})),
    Case("control_characters_in_ids", {"transactions": parquet({
        "customer_id": ["C\x001", "C\x072", "C3"], "timestamp": ["2024-01-02"] * 3,
        "amount": [1.0, 2.0, 3.0]})},
         Outcome(accepted=1, quarantined={line: (
             "customer_id_invalid", f'customer_id "{shown}" holds a control character; an id '
                                    f"is printable text (the file may be damaged)")
             for line, shown in ((1, "C\\u00001"), (2, "C\\u00072"))})),
    Case("unicode_ids", {"transactions": tx("Zo\u00eb,2024-01-02,1", "Zoe\u0308,2024-01-02,1",
                                           "客户42,2024-01-02,1", "\u00a0ÅSA\u00a0,2024-01-02,1")},
         # Composed and decomposed "Zoë" are one customer (NFC); no-break spaces are trimmed.
         Outcome(accepted=4, clean={"customer_id": ["Zo\u00eb", "Zo\u00eb", "客户42", "ÅSA"]})),
    # ---- duplicates ----------------------------------------------------------
    Case("duplicate_transaction_ids", {"transactions": tx(
        "C1,2024-01-02,10.00,T1", "C1,2024-01-02,12.00,T1",  # same id, other amount
        "C1,2024-01-02,10.00,T2", "C1,2024-01-05,-10.00,T2",  # a purchase and its refund
        "C1,2024-01-03,5.00,T3", "C1,2024-01-03,5.00,T3",  # the same row twice
        header=f"{TX_HEADER},transaction_id")},
         Outcome(accepted=4, quarantined={
             3: ("transaction_id_conflict",
                 'transaction_id "T1" is already used by line 2 with other values (kept)'),
             7: ("exact_duplicate", "all fields equal to line 6 (kept)")},
             clean={"transaction_id": ["T1", "T2", "T2", "T3"]})),
    # ---- interactions --------------------------------------------------------
    Case("unknown_interaction_kind", {"interactions": "\n".join([
        IX_HEADER, "C1,2024-01-02,carrier_pigeon,", "C1,2024-01-02, Call ,", ""])},
         Outcome(table="interactions", accepted=1, clean={"kind": ["call"]}, quarantined={2: (
             "kind_unknown", 'kind "carrier_pigeon" is not in data.interaction_kinds '
                             "[call, complaint, survey]")})),
    Case("satisfaction_out_of_range", {"interactions": "\n".join([
        IX_HEADER, "C1,2024-01-02,survey,0", "C1,2024-01-02,survey,6", 'C1,2024-01-02,survey,"4,5"',
        "C1,2024-01-02,survey,5", ""])},
         Outcome(table="interactions", accepted=1, clean={"satisfaction": [5.0]}, quarantined={
             2: ("satisfaction_out_of_range",
                 'satisfaction "0" is outside data.satisfaction_range [1, 5]'),
             3: ("satisfaction_out_of_range",
                 'satisfaction "6" is outside data.satisfaction_range [1, 5]'),
             4: ("satisfaction_unparseable",
                 f'satisfaction "4,5" {DEFAULT_NUMBERS}; with data.decimal: \',\' in '
                 f"params.yaml it reads as a number")})),
    # ---- files ---------------------------------------------------------------
    Case("empty_file", {"transactions": ""},
         Fatal(f"{{transactions}}: the file is empty (no header line, no rows); {NO_ROWS}")),
    Case("header_only", {"transactions": tx()},
         Fatal(f"{{transactions}}: the file has no data rows (only a header or nothing); "
               f"{NO_ROWS}")),
    Case("empty_optional_file", {"interactions": ""},
         Outcome(table="interactions", accepted=0, report={"format": "empty"})),
    Case("truncated_parquet", {"transactions": Fixture("truncated.parquet")},
         Fatal("{transactions}: not a readable Parquet file (truncated or corrupt?): {any}. "
               "Re-export the file, or set data.transactions in params.yaml to a readable "
               "file.")),
    Case("csv_named_parquet", {"transactions": named("orders.parquet", GOOD_TX)},
         Fatal("{transactions}: not a readable Parquet file (truncated or corrupt?): {any}. "
               "Re-export the file, or set data.transactions in params.yaml to a readable "
               "file.")),
    Case("spreadsheet_file", {"transactions": named("orders.xlsx", GOOD_TX)},
         Fatal("{transactions}: cannot tell the format of data.transactions from its name; "
               "expected one of .csv, .csv.gz, .txt, .txt.gz, .parquet, .pq or a directory of "
               ".parquet files. Rename the file or set data.transactions in params.yaml to a "
               "file with such a name.")),
    Case("missing_file", {"transactions": absent("orders.csv", "order.csv")},
         Fatal("{transactions}: file not found (data.transactions in params.yaml). Files with "
               "close names in {folder}: order.csv. Set data.transactions in params.yaml to "
               "the transactions file.")),
]


def _materialize(folder: Path, table: str, value: str | bytes | Fixture | Builder) -> str | Path:
    if isinstance(value, str):
        return value  # CSV text: the validate helper writes it to <table>.csv
    if isinstance(value, bytes):
        path = folder / f"{table}.csv"
        path.write_bytes(value)
        return path
    if isinstance(value, Fixture):
        return FIXTURES / value.name
    return value(folder, table)


def _inputs(folder: Path, case: Case) -> dict[str, str | Path]:
    files = {"transactions": GOOD_TX, **case.files}
    return {name: _materialize(folder, name, value) for name, value in files.items()}


def _paths(folder: Path, inputs: Mapping[str, str | Path]) -> dict[str, str]:
    """The path of every input, as the placeholders of a template."""
    paths = {name: str(value if isinstance(value, Path) else folder / f"{name}.csv")
             for name, value in inputs.items()}
    return {**paths, "folder": str(folder)}


def _matches(template: str, text: str, paths: Mapping[str, str]) -> bool:
    pattern = "".join(
        ".+?" if part == "{any}" else re.escape(paths[part[1:-1]]) if part[1:-1] in paths
        else re.escape(part)
        for part in re.split(r"(\{[a-z]+\})", template))
    return re.fullmatch(pattern, text, flags=re.DOTALL) is not None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(tmp_path, case):
    inputs = _inputs(tmp_path, case)
    paths = _paths(tmp_path, inputs)
    if isinstance(case.outcome, Fatal):
        with pytest.raises(InputError) as raised:
            validate(tmp_path, **inputs, text=case.text, column_maps=case.maps)
        assert _matches(case.outcome.message, str(raised.value), paths), str(raised.value)
        return

    expected = case.outcome
    run = validate(tmp_path, **inputs, text=case.text, column_maps=case.maps)
    report = run.report["tables"][expected.table]
    assert report["rows_accepted"] == expected.accepted
    assert report["rows_quarantined"] == len(expected.quarantined)
    assert report["rows_read"] == report["rows_accepted"] + report["rows_quarantined"]
    assert report["reconciled"] is True
    assert report["quarantined_by_rule"] == dict(
        Counter(rule for rule, _ in expected.quarantined.values()))
    q = run.quarantine()
    q = q[q["table"] == expected.table]
    got = {line: (rule, reason) for line, rule, reason
           in zip(q["source_line"], q["rule"], q["reason"], strict=True)}
    assert sorted(got) == sorted(expected.quarantined)
    for line, (rule, reason) in expected.quarantined.items():
        assert got[line][0] == rule, (line, got[line])
        assert _matches(reason, got[line][1], paths), (line, got[line][1])
    clean = run.clean(expected.table).sort_values(["source_file", "source_line"])
    for column, values in expected.clean.items():
        assert clean[column].tolist() == values, column
    for key, value in expected.report.items():
        assert report[key] == value, key


def test_the_catalogue_covers_every_rule_or_says_where_it_is_tested():
    from features.validation import RULES

    covered = {rule for c in CASES if isinstance(c.outcome, Outcome)
               for rule, _ in c.outcome.quarantined.values()}
    # Tested one by one in test_validation.py (RULE_CASES).
    elsewhere = {"timestamp_missing", "amount_missing", "resolved_not_boolean",
                 "resolution_hours_unparseable", "resolution_hours_negative",
                 "signup_date_unparseable", "duplicate_customer_id",
                 # test_retention_contacts_keep_action_and_control_and_quarantine_bad_ones
                 "action_invalid", "control_not_boolean"}
    assert covered | elsewhere == set(RULES)
    assert len(CASES) >= 25


# --------------------------------------------------------------------------
# The same inputs through `churn validate`: exit code 4 and the message
# --------------------------------------------------------------------------

CLI_CASES = ["missing_required_column", "semicolon_delimiter", "empty_file", "truncated_parquet",
             "dates_all_day_first", "parquet_float_ids", "missing_file"]
runner = CliRunner()


def _cli_validate(folder: Path, inputs: Mapping[str, str | Path], *extra: str):
    overrides = ["data.interactions=null", "data.customers=null", *extra]
    for name, value in inputs.items():
        path = value if isinstance(value, Path) else folder / f"{name}.csv"
        if isinstance(value, str):
            path.write_text(value, encoding="utf-8", newline="")
        overrides.append(f"data.{name}={path}")
    args = ["validate", "--params", str(PARAMS_FILE)]
    for item in overrides:
        args += ["-S", item]
    return runner.invoke(app, args)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in CLI_CASES],
                         ids=[c.id for c in CASES if c.id in CLI_CASES])
def test_fatal_inputs_exit_with_code_4_through_the_cli(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)  # the stage writes under the project folder
    inputs = _inputs(tmp_path, case)

    result = _cli_validate(tmp_path, inputs)

    assert result.exit_code == EXIT_INPUT, result.output
    message = result.output.split("input error: ", 1)[1].rstrip("\n")
    assert _matches(case.outcome.message, message, _paths(tmp_path, inputs)), message
    assert not (tmp_path / "data" / "clean").exists()
    assert not (tmp_path / "reports").exists()


def test_a_header_that_looks_like_console_markup_is_printed_as_it_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inputs = {"transactions": tx("C1,2024-01-02,1", header="customer_id,timestamp,[/total]")}

    result = _cli_validate(tmp_path, inputs)

    assert result.exit_code == EXIT_INPUT, result.output
    assert "The header has: 'customer_id', 'timestamp', '[/total]'." in result.output


def test_quarantine_through_the_cli_exits_0_with_a_reconciled_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = next(c for c in CASES if c.id == "null_and_empty_ids")

    result = _cli_validate(tmp_path, _inputs(tmp_path, case))

    assert result.exit_code == EXIT_OK, result.output
    report = json.loads((tmp_path / "reports" / "validation.json").read_text())
    t = report["tables"]["transactions"]
    assert (t["rows_read"], t["rows_accepted"], t["rows_quarantined"]) == (7, 1, 6)
    assert t["quarantined_by_rule"] == {"customer_id_missing": 6}
    assert pq.read_table(tmp_path / "data" / "clean" / "quarantine.parquet").num_rows == 6


# --------------------------------------------------------------------------
# Beyond validation: dates around the cutoffs, one customer, a very busy one
# --------------------------------------------------------------------------


def _project(folder: Path, transactions: str, **overrides: Any):
    """Validate ``transactions`` as the validate stage does, in a project under ``folder``."""
    raw = folder / "raw" / "transactions.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text(transactions, encoding="utf-8")
    params = load_params(PARAMS_FILE, overrides={
        "data.transactions": str(raw), "data.interactions": None, "data.customers": None,
        **overrides})
    paths = Paths(root=folder)
    return params, paths, validate_stage.main(params, paths)


def _features_at(params, paths: Paths, folder: Path, cutoffs: list[dt.date]) -> pd.DataFrame:
    out = folder / "features"
    out.mkdir()
    build_features(connect(), clean=paths.clean_inputs(), cutoffs=cutoffs,
                   spec=features_stage.feature_spec(params), out_dir=out)
    if not any(out.glob("*.parquet")):
        return pd.DataFrame(columns=["customer_id", "cutoff", "frequency"])
    return pq.read_table(out).to_pandas().sort_values(["cutoff", "customer_id"])


def test_events_after_the_scoring_date_are_kept_but_unseen_by_its_features(tmp_path):
    """Validation does not know the scoring date: an event after it (but not after the
    run) is a real event and is kept; features as of the date see only the days before
    it, so scoring an earlier date is unchanged by later events. Only dates after the
    last valid event plus validate.max_future_days are quarantined (clock errors,
    placeholders)."""
    params, paths, report = _project(tmp_path, tx(
        "C1,2024-01-02,10", "C1,2024-03-01,10", "C1,2024-06-01,10", "C2,2099-12-31,10"))

    t = report["tables"]["transactions"]
    assert (t["rows_accepted"], t["quarantined_by_rule"]) == (3, {"timestamp_in_future": 1})
    rows = _features_at(params, paths, tmp_path, [dt.date(2024, 4, 1), dt.date(2024, 6, 2)])
    assert rows[["customer_id", "frequency"]].values.tolist() == [["C1", 2], ["C1", 3]]


def test_all_events_after_the_cutoffs(tmp_path, monkeypatch):
    """A cutoff before a customer's first event has no row for it; a run whose every
    cutoff is on or before the first event stops (exit code 4) instead of writing an
    empty feature table; scoring a date on or before the first event stops the same way
    (tests/pipeline/test_score.py)."""
    monkeypatch.chdir(tmp_path)
    inputs = {"transactions": tx("C1,2024-03-01,10", "C2,2024-05-01,10")}
    assert _cli_validate(tmp_path, inputs).exit_code == EXIT_OK
    params = load_params(PARAMS_FILE)
    paths = Paths(root=Path("."))

    rows = _features_at(params, paths, tmp_path, [dt.date(2024, 1, 1), dt.date(2024, 4, 1)])
    assert rows[["customer_id", "cutoff"]].astype(str).values.tolist() == [["C1", "2024-04-01"]]

    result = runner.invoke(app, ["features", "--params", str(PARAMS_FILE),
                                 "-S", "features.last_snapshot=2024-03-01",
                                 "-S", "features.first_snapshot=2024-01-01"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert ("input error: every snapshot cutoff (2024-01-01 to 2024-03-01) is on or before "
            "the first event (2024-03-01): no customer has an event before any cutoff. Set "
            "features.last_snapshot (and features.first_snapshot) in params.yaml to dates "
            "after 2024-03-01, or to null for the data's own range") in result.output
    assert not (tmp_path / "data" / "features").exists()


def test_a_single_customer_in_total(tmp_path):
    params, paths, report = _project(tmp_path, tx("007,2024-01-02,10", "007,2024-02-01,-2",
                                                 "007,2024-03-01,5"))

    assert report["totals"]["customers"] == 1
    features = features_stage.main(params, paths)
    assert (features["customers"], features["rows"]) == (1, len(features["cutoffs"]))
    row = pq.read_table(paths.features).to_pylist()[-1]
    assert (row["customer_id"], row["frequency"], row["refund_count"]) == ("007", 2, 1)


MILLION = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
import duckdb
from pipeline import features, validate
from pipeline.config import load_params
from pipeline.paths import Paths

folder, params_file = Path(sys.argv[1]), sys.argv[2]
raw = folder / "events.parquet"
start = time.perf_counter()
# One customer, a purchase every 30 seconds for 347 days, every 100th a refund.
duckdb.sql(f'''COPY (SELECT '00042' AS customer_id,
                            TIMESTAMP '2023-01-01' + INTERVAL (i * 30) SECOND AS timestamp,
                            CASE WHEN i % 100 = 99 THEN -1.5 ELSE 2.5 END AS amount
                     FROM range(1000000) r(i)) TO '{raw}' (FORMAT parquet)''')
params = load_params(params_file, overrides={
    "data.transactions": str(raw), "data.interactions": None, "data.customers": None,
    "validate.memory_limit": "256MB", "features.memory_limit": "256MB",
    "features.first_snapshot": "2023-06-01", "features.last_snapshot": "2024-01-01",
    "features.snapshot_frequency": "QS"})
paths = Paths(root=folder)


def high_water_mb():
    # This process's own peak (VmHWM). Not ru_maxrss, which Linux carries across
    # exec: it would start at the memory of the test process that launched this one.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


imported_mb = high_water_mb()
report = validate.main(params, paths)
summary = features.main(params, paths)
print(json.dumps({
    "validation": report["tables"]["transactions"], "features": summary,
    "seconds": time.perf_counter() - start, "imported_mb": imported_mb,
    "peak_rss_mb": high_water_mb()}))
"""


def test_a_customer_with_a_million_events(tmp_path):
    """Works, in bounded memory: validation and features run with DuckDB capped at 256 MB,
    in a fresh process whose peak memory is measured."""
    result = subprocess.run([sys.executable, "-c", MILLION, str(tmp_path), str(PARAMS_FILE)],
                            capture_output=True, text=True, timeout=120,
                            cwd=PARAMS_FILE.parent, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])

    v = out["validation"]
    assert (v["rows_read"], v["rows_accepted"], v["refunds_kept"]) == (1_000_000, 1_000_000,
                                                                       10_000)
    f = out["features"]
    assert f["customers"] == 1
    # The snapshot grid, and the cutoffs of the labels' plan.
    assert {"2023-07-01", "2023-10-01", "2024-01-01"} <= set(f["cutoffs"])
    rows = pq.read_table(tmp_path / "data" / "features").to_pandas().sort_values("cutoff")
    # Purchases before each cutoff: 30-second steps from 2023-01-01, every 100th a refund.
    steps = [(pd.Timestamp(c) - pd.Timestamp("2023-01-01")).total_seconds() / 30
             for c in f["cutoffs"]]
    expected = [int(n) - int(n) // 100 if n < 1_000_000 else 990_000 for n in steps]
    assert rows["frequency"].tolist() == expected
    # What the stages add to the libraries' own memory: DuckDB's 256 MB cap, plus the
    # Arrow batches, the Parquet writer and the allocators' slack (about 400 MB seen on
    # x86_64 with 2 cores, where 4 million events add about 60 MB more): three times the
    # cap, measured from the process's memory once its libraries are loaded.
    grown = out["peak_rss_mb"] - out["imported_mb"]
    assert grown < 3 * 256, out


# --------------------------------------------------------------------------
# Names from params that reach SQL: quoted, never pasted
# --------------------------------------------------------------------------

HOSTILE = 'amount"; DROP TABLE sentinel; --'


def _validate_in(con: duckdb.DuckDBPyConnection, path: Path,
                 maps: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    return validate_inputs(con, inputs={"transactions": path}, text=TextFormat(),
                           checks=CHECKS, now=NOW, column_maps=maps)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_hostile_column_name_is_read_as_a_name(tmp_path, suffix):
    """A column named like an SQL injection, mapped in data.columns, is quoted as an
    identifier (Parquet) or never written into SQL at all (CSV: columns are read by
    position); the statement it carries is not run."""
    path = tmp_path / f"orders{suffix}"
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "timestamp": ["2024-01-02"] * 2,
                          HOSTILE: ["12.5", "oops"]})
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    con = duckdb.connect()
    con.execute("CREATE TABLE sentinel AS SELECT 1 AS x")

    report = _validate_in(con, path, {"transactions": {"amount": HOSTILE}})

    assert con.execute("SELECT x FROM sentinel").fetchall() == [(1,)]
    t = report["tables"]["transactions"]
    assert (t["rows_accepted"], t["quarantined_by_rule"]) == (1, {"amount_unparseable": 1})
    assert t["columns"]["amount"] == HOSTILE
    raw = con.execute("SELECT raw FROM _v_quarantine").fetchall()[0][0]
    assert json.loads(raw) == {"customer_id": "C2", "timestamp": "2024-01-02", HOSTILE: "oops"}


def test_a_hostile_mapping_to_a_missing_column_is_refused_by_name(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(GOOD_TX, encoding="utf-8")
    con = duckdb.connect()

    with pytest.raises(InputError) as raised:
        _validate_in(con, path, {"transactions": {"amount": HOSTILE}})

    assert str(raised.value) == (
        f"{path}: column 'amount\"; DROP TABLE sentinel; --' not found (set by "
        f"data.columns.transactions.amount). The header has: 'customer_id', 'timestamp', "
        f"'amount'. Close matches: none. Set data.columns.transactions.amount: <its name in "
        f"the file> in params.yaml.")

