"""Every physical form of a CSV file a real export produces, and what validation makes of it.

The rule under test (features/validation/csv_records.py): every record of the
file reaches the clean table, or the quarantine with its line number, or
validation stops naming the file and the line; the report proves it, the file's
own records = rows read = accepted + quarantined, and its lines = header +
blank + lines inside records.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.validation import InputError, TextFormat
from features.validation.text_file import MAX_RECORD_CHARS
from tests.features.test_validation import TX_HEADER, validate

# A small export: a quoted note holding the delimiter, a quote and a line break,
# a blank line, a whitespace-only line, a refund and a row quarantined for its amount.
ROWS = [
    "C1,2024-01-02,10.00,plain",
    'C2,2024-01-03,5.50,"with, comma"',
    'C3,2024-01-04,7.00,"say ""hi""\nsecond line"',
    "",
    "C4,2024-01-05,-3.00,refund",
    "   ",
    'C5,2024-01-06,abc,"bad ""amount""\nkept as raw"',
    "C6,2024-01-07,1.00,last",
]
HEADER = f"{TX_HEADER},note"
# Line of each clean record (header = 1; C3's note spans lines 4-5).
CLEAN_LINES = [2, 3, 4, 7, 11]


def _export(newline: str) -> str:
    lines = [HEADER, *ROWS]
    if newline == "mixed":  # appended to by two systems
        return "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    return "".join(line.replace("\n", newline) + newline for line in lines)


def _compress(data: bytes, how: str, folder: Path) -> Path:
    name, packed = {
        "none": ("tx.csv", data), "gzip": ("tx.csv.gz", gzip.compress(data)),
        "gzip_named_csv": ("tx.csv", gzip.compress(data)),
        "bzip2_named_csv": ("tx.csv", bz2.compress(data)),
        "xz_named_csv": ("tx.csv", lzma.compress(data)),
    }[how]
    path = folder / name
    path.write_bytes(packed)
    return path


# Every line break with and without a byte-order mark, then every compression.
FORMS = [(bom, newline, "none") for bom in (False, True)
         for newline in ("\n", "\r\n", "\r", "mixed")] + [
    (True, "\r\n", how) for how in ("gzip", "gzip_named_csv", "bzip2_named_csv",
                                    "xz_named_csv")]


BREAKS = {"\n": "lf", "\r\n": "crlf", "\r": "cr", "mixed": "mixed"}


@pytest.mark.parametrize(("bom", "newline", "how"), FORMS, ids=[
    f"{'bom' if b else 'utf8'}-{BREAKS[n]}-{h}" for b, n, h in FORMS])
def test_every_form_of_the_same_export_reads_the_same(tmp_path, bom, newline, how):
    data = ("\ufeff" if bom else "").encode() + _export(newline).encode("utf-8")
    run = validate(tmp_path, _compress(data, how, tmp_path))

    t = run.report["tables"]["transactions"]
    assert (t["rows_read"], t["rows_accepted"], t["quarantined_by_rule"]) == (
        6, 5, {"amount_unparseable": 1})
    assert t["file"]["records"] == t["rows_read"] == 6
    assert (t["file"]["lines"], t["file"]["header_lines"], t["file"]["blank_lines"],
            t["file"]["record_lines"]) == (11, 1, 2, 8)
    assert t["file"]["byte_order_mark"] is bom
    assert t["file"]["compression"] == {"none": None, "gzip": "gzip"}.get(
        how, how.split("_")[0])
    clean = run.clean().sort_values("source_line")
    assert clean["source_line"].tolist() == CLEAN_LINES
    assert clean["customer_id"].tolist() == ["C1", "C2", "C3", "C4", "C6"]
    assert clean["amount"].tolist() == [10.0, 5.5, 7.0, -3.0, 1.0]
    row = run.one_quarantined()
    assert row["source_line"] == 9
    # The quoted line break is one "\n", whatever the file's line breaks.
    assert json.loads(row["raw"])["note"] == 'bad "amount"\nkept as raw'
    breaks = t["file"]["line_breaks"]
    if newline == "mixed":
        # Rows end LF and CRLF in turn; the two quoted line breaks are LF.
        assert (breaks["lf"], breaks["crlf"], breaks["cr"]) == (7, 4, 0)
    else:
        assert breaks[BREAKS[newline]] == sum(breaks.values()) == 11


def test_quoted_fields_keep_delimiters_quotes_and_line_breaks_of_free_text(tmp_path):
    content = (f"{TX_HEADER},channel,category,note\n"
               'C1,2024-01-02,1,"web, mobile","say ""hi""","a\n\nb"\n'
               '"C2","2024-01-03","2","","""quoted""",""\n')
    run = validate(tmp_path, content)

    clean = run.clean().sort_values("source_line")
    assert clean["channel"].fillna("<null>").tolist() == ["web, mobile", "<null>"]
    assert clean["category"].tolist() == ['say "hi"', '"quoted"']
    assert clean["source_line"].tolist() == [2, 5]
    assert run.report["tables"]["transactions"]["file"]["record_lines"] == 4


@pytest.mark.parametrize("position", [0, 29, 398, 399])
def test_an_unterminated_quote_costs_one_line_never_the_rest_of_the_file(tmp_path, position):
    rows = [f"C{i},2024-01-{1 + i % 28:02d},{i}.5," for i in range(400)]
    rows[position] = '"' + rows[position]
    # A later, well-formed quoted value does not close the stray quote either.
    rows[position + 1 if position < 399 else 0] += '"note"'
    run = validate(tmp_path, f"{TX_HEADER},note\n" + "\n".join(rows) + "\n")

    t = run.report["tables"]["transactions"]
    assert (t["file"]["records"], t["rows_read"], t["rows_accepted"]) == (400, 400, 399)
    row = run.one_quarantined()
    assert (row["rule"], row["source_line"]) == ("malformed_line", position + 2)
    assert "UNQUOTED VALUE: unterminated quote: the quoted value opened on this line" in (
        row["reason"])
    assert len(run.clean()) == 399


def test_a_line_break_in_a_contract_value_is_an_unterminated_quote(tmp_path):
    # Ids, times and amounts never hold line breaks: lines 3 and 4 do not read as one
    # record, and line 4, where the quote closes inside a field, is the end of it.
    content = (f'{TX_HEADER}\nC1,2024-01-02,1\nC2,2024-01-03,"2\nC3,2024-01-04,3"\n'
               f"C4,2024-01-05,4\n")
    run = validate(tmp_path, content)

    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {3: "malformed_line", 4: "malformed_line"}
    assert "closes on line 4, but lines 3-4 do not read as one record (the value of amount " \
           "would hold a line break); line 4, where it closes, quarantined too" in (
               q.loc[3, "reason"])
    assert sorted(run.clean()["source_line"]) == [2, 5]
    assert run.report["tables"]["transactions"]["rows_read"] == 4


# A record whose quoted contract value holds a line break (CR, LF or CRLF), at any
# column, with or without a free-text column opening another quote after it, or
# with a field too many: no part of it is read as a record of its own.
SPLIT = [
    ('"C0{nl}01",2024-01-02,10.00', "customer_id"),
    ('C0,"2024-01-02{nl}10:00:00",10.00', "timestamp"),
    ('C0,2024-01-02,"10{nl}.00"', "amount"),
    ('"C0{nl}01",2024-01-02,10.00,"a note{nl}on two lines"', "customer_id"),
    ('X,"C0{nl}01",2024-01-02 10:00:00,10.00', None),
    ('"C0{nl}{nl}01",2024-01-02,10.00', "customer_id"),
]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"], ids=["cr", "lf", "crlf"])
@pytest.mark.parametrize(("record", "column"), SPLIT, ids=[
    "id", "timestamp", "amount", "id_then_note", "one_field_too_many", "id_two_breaks"])
def test_a_record_split_in_a_contract_value_is_never_read_in_parts(tmp_path, newline, record,
                                                                    column):
    header = f"{TX_HEADER},note" if "note" in record else TX_HEADER
    good = [f"C{i},2024-01-{i:02d},{i}.00" + (",n" if "note" in record else "")
            for i in range(1, 6)]
    split = record.format(nl=newline).split(newline)
    run = validate(tmp_path, newline.join([header, *good[:2], *split, *good[2:]]) + newline)

    t = run.report["tables"]["transactions"]
    assert t["reconciled"] is True
    # Line 4 opens the quote; the line where it closes, inside a field, and any lines
    # the record runs on to are the end of it: neither is read as a record.
    close = 4 + next(i for i, part in enumerate(split) if '"' in part and i)
    end = 3 + len(split)
    assert sorted(run.clean()["source_line"]) == [2, 3, end + 1, end + 2, end + 3]
    assert sorted(run.clean()["customer_id"]) == [f"C{i}" for i in range(1, 6)]
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {4: "malformed_line", close: "malformed_line"}
    if column is not None:
        assert f"(the value of {column} would hold a line break)" in q.loc[4, "reason"]
    lines = f"line {close}" if close == end else f"lines {close}-{end}"
    assert f"; {lines}, where it closes, quarantined too" in q.loc[4, "reason"]
    assert ("closes the quoted value opened on line 4, which does not read as one record: "
            + ("this line is its end, not a record of its own" if close == end else
               f"{lines} are its end, not records of their own")) in q.loc[close, "reason"]
    assert t["file"]["records"] == t["rows_read"] == 7
    assert t["file"]["record_lines"] + t["file"]["blank_lines"] == 5 + len(split)


def test_a_quote_closing_at_the_start_of_a_field_leaves_its_line_to_be_read(tmp_path):
    # The stray quote of line 3 pairs with the opening quote of line 4's note, at the
    # start of a field: line 4 is a record of its own, read.
    content = (f'{TX_HEADER},note\nC1,2024-01-02,1,a\n"C2,2024-01-03,2,b\n'
               f'C3,2024-01-04,3,"c"\nC4,2024-01-05,4,d\n')
    run = validate(tmp_path, content)

    assert run.one_quarantined()["source_line"] == 3
    assert sorted(run.clean()["source_line"]) == [2, 4, 5]


def test_blank_and_whitespace_only_lines_are_counted_not_read(tmp_path):
    content = f"\n{TX_HEADER}\n\n \t \nC1,2024-01-02,1\n\u00a0\n\nC2,2024-01-03,2\n\n\n"
    run = validate(tmp_path, content)

    t = run.report["tables"]["transactions"]
    assert (t["rows_read"], t["rows_accepted"]) == (2, 2)
    assert (t["file"]["lines"], t["file"]["blank_lines"]) == (10, 7)
    assert sorted(run.clean()["source_line"]) == [5, 8]


@pytest.mark.parametrize("header", [
    ' "customer_id" , "timestamp",amount ',
    '"""customer_id""",\u200btimestamp,"amount"',
    "\ufeffcustomer_id\t,timestamp,amount",
], ids=["padded-quoted", "doubly-quoted", "stray-bom-and-tab"])
def test_padded_or_quoted_header_names_are_the_contract_names(tmp_path, header):
    run = validate(tmp_path, f"{header}\nC1,2024-01-02,1\n")

    t = run.report["tables"]["transactions"]
    assert t["rows_accepted"] == 1
    assert t["columns"] == {"customer_id": "customer_id", "timestamp": "timestamp",
                            "amount": "amount"}


def test_duplicate_header_names_outside_the_contract_are_kept_apart(tmp_path):
    run = validate(tmp_path, f"{TX_HEADER},note,note,\nC1,2024-01-02,x,a,b,c\n"
                             f"C2,2024-01-02,1,a,b,\n")

    raw = json.loads(run.one_quarantined()["raw"])
    assert raw == {"customer_id": "C1", "timestamp": "2024-01-02", "amount": "x", "note": "a",
                   "note_2": "b", "": "c"}


def test_very_long_fields_are_read_and_overlong_records_quarantined(tmp_path):
    long_note = "x" * 300_000
    content = (f"{TX_HEADER},note\nC1,2024-01-02,1,\"{long_note}\"\n"
               f"C2,2024-01-02,1,{'y' * (MAX_RECORD_CHARS + 10)}\n"
               f"C3,2024-01-02,1,\"{'z' * 600_000}\n{'z' * 600_000}\"\n"
               "C4,2024-01-02,1,short\n")
    run = validate(tmp_path, content)

    assert sorted(run.clean()["customer_id"]) == ["C1", "C4"]
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {3: "malformed_line", 4: "malformed_line", 5: "malformed_line"}
    assert "LINE SIZE OVER MAXIMUM: the line is longer than 1,048,576 characters" in (
        q.loc[3, "reason"])
    assert "is not closed within 1,048,576 characters" in q.loc[4, "reason"]
    assert len(q.loc[3, "raw"]) < 20_000  # the quarantine keeps the line's head only


def test_bytes_that_are_not_utf8_are_quarantined_by_line_or_read_with_data_encoding(tmp_path):
    data = (f"{TX_HEADER}\nC1,2024-01-02,1\nZoë,2024-01-03,2\nCafé,2024-01-04,3\n"
            ).encode("cp1252")
    path = tmp_path / "tx.csv"
    path.write_bytes(data)

    run = validate(tmp_path, path)
    q = run.quarantine()
    assert q["source_line"].tolist() == [3, 4]
    assert "set data.encoding: cp1252 in params.yaml" in q["reason"].iloc[0]

    run = validate(tmp_path, path, text=TextFormat(encoding="cp1252"))
    assert sorted(run.clean()["customer_id"]) == ["C1", "Café", "Zoë"]


def test_a_header_that_does_not_decode_names_data_encoding(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_bytes("Kundennummer_ä,timestamp,amount\nC1,2024-01-02,1\n".encode("cp1252"))

    with pytest.raises(InputError, match=re.escape(
            f"{path}: the header (line 1) is not 'utf-8' text: byte 0xE4 at character 14 is "
            f"not 'utf-8' text; in cp1252 the line reads 'Kundennummer_ä,timestamp,amount': "
            f"if the file was saved that way (Excel, older systems), set data.encoding: cp1252 "
            f"in params.yaml; or save the file as UTF-8 (data.transactions in params.yaml).")):
        validate(tmp_path, path)


@pytest.mark.parametrize(("data", "what"), [
    (b"PK\x03\x04" + b"\x00" * 40, "a ZIP archive (an Excel .xlsx workbook or a zipped file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "an Excel .xls workbook"),
    (b"\x28\xb5\x2f\xfd" + b"\x00" * 40, "zstd-compressed"),
    (gzip.compress(b"PK\x03\x04" + b"\x00" * 40),
     "a ZIP archive (an Excel .xlsx workbook or a zipped file): save the sheet as CSV, or unzip "
     "the file (gzip-compressed)"),
], ids=["xlsx", "xls", "zstd", "gzipped-zip"])
def test_files_that_are_not_csv_text_say_what_they_are(tmp_path, data, what):
    path = tmp_path / "tx.csv"
    path.write_bytes(data)

    with pytest.raises(InputError, match=re.escape(f"{path}: data.transactions is {what}")):
        validate(tmp_path, path)


def test_a_parquet_file_named_csv_says_so(tmp_path):
    path = tmp_path / "tx.csv"
    pq.write_table(pa.table({"customer_id": ["C1"]}), path)

    with pytest.raises(InputError, match=re.escape(
            f"{path}: data.transactions is a Parquet file: give it a .parquet name")):
        validate(tmp_path, path)


def test_a_truncated_gzip_file_names_the_file(tmp_path):
    path = tmp_path / "tx.csv.gz"
    path.write_bytes(gzip.compress(_export("\n").encode())[:-30])

    with pytest.raises(InputError, match=re.escape(
            f"{path}: cannot read gzip data of data.transactions (truncated or corrupt?)")):
        validate(tmp_path, path)


def test_utf16_and_utf32_files_read_with_data_encoding(tmp_path):
    for encoding in ("utf-16", "utf-32"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(_export("\r\n").encode(encoding))
        run = validate(tmp_path, path, text=TextFormat(encoding=encoding))
        assert run.clean()["source_line"].sort_values().tolist() == CLEAN_LINES
