"""Every Arrow type a Parquet writer produces for each contract column.

Each stored type is read to the contract's value (ids as their text, amounts as
numbers, timestamps as naive UTC), or refused before any row is read with one
message naming the column and its type (features/validation/column_types.py).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.validation import InputError, TextFormat
from tests.features.test_validation import validate

MOMENT = dt.datetime(2024, 1, 2, 3, 4, 5)  # naive UTC
BASE = {"customer_id": pa.array(["C1", "C2"]),
        "timestamp": pa.array([MOMENT] * 2, pa.timestamp("us")),
        "amount": pa.array([1.5, 2.0])}


def _run(tmp_path, text: TextFormat | None = None, **columns: pa.Array):
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.table({**BASE, **columns}), path)
    return validate(tmp_path, path, text=text)


@pytest.mark.parametrize(("ids", "expected"), [
    (pa.array(["007", "C2"], pa.large_string()), ["007", "C2"]),
    (pa.array(["007", "C2"]).dictionary_encode(), ["007", "C2"]),
    (pa.array(pd.Categorical(["007", "C2"])), ["007", "C2"]),
    (pa.array([7, 2], pa.int64()), ["7", "2"]),
    (pa.array([7, 2], pa.int8()), ["7", "2"]),
    (pa.array([2**64 - 1, 2], pa.uint64()), ["18446744073709551615", "2"]),
    (pa.array([decimal.Decimal("123"), decimal.Decimal("2")], pa.decimal128(20, 0)),
     ["123", "2"]),
    (pa.array([b"C1", b"C2"], pa.binary()), ["C1", "C2"]),
], ids=["large_string", "dictionary", "categorical", "int64", "int8", "uint64", "decimal0",
        "binary"])
def test_customer_ids_of_every_type_are_their_text(tmp_path, ids, expected):
    run = _run(tmp_path, customer_id=ids)

    assert run.clean().sort_values("source_line")["customer_id"].tolist() == expected


def test_binary_ids_are_their_utf8_text_and_damaged_bytes_are_invalid(tmp_path):
    # As for text ids, a control character (a NUL byte) is damage; so are bytes that
    # are not UTF-8, never read as their escaped form (Q\xFF) nor as a customer.
    ids = pa.array([b"Zo\xc3\xab", b"Z\x00Z", b"Q\xff", b"Q\\xFF", b" C7\xe3\x80\x80"],
                   pa.binary())
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.table({"customer_id": ids,
                             "timestamp": pa.array([MOMENT] * 5, pa.timestamp("us")),
                             "amount": pa.array([1.0] * 5)}), path)
    run = validate(tmp_path, path)

    clean = run.clean().sort_values("source_line")
    assert clean["customer_id"].tolist() == ["Zoë", "Q\\xFF", "C7"]
    assert run.report["tables"]["transactions"]["ids_cleaned"] == 1
    q = run.quarantine().set_index("source_line")
    assert q["rule"].to_dict() == {2: "customer_id_invalid", 3: "customer_id_invalid"}
    assert "holds a control character" in q.loc[2, "reason"]
    assert "is binary data that is not UTF-8 text" in q.loc[3, "reason"]


@pytest.mark.parametrize("amounts", [
    pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.00")], pa.decimal128(10, 2)),
    pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.00")], pa.decimal256(40, 2)),
    pa.array([1.5, 2.0], pa.float32()),
    pa.array([1.5, 2.0], pa.float16()),
    pa.array(["1.5", "2"], pa.large_string()),
], ids=["decimal128", "decimal256", "float32", "float16", "large_string"])
def test_amounts_of_every_type_are_numbers(tmp_path, amounts):
    run = _run(tmp_path, amount=amounts)

    assert run.clean().sort_values("source_line")["amount"].tolist() == [1.5, 2.0]


@pytest.mark.parametrize("kind", [pa.int32(), pa.uint8(), pa.int64()])
def test_integer_amounts_are_numbers(tmp_path, kind):
    run = _run(tmp_path, amount=pa.array([1, 2], kind))

    assert run.clean().sort_values("source_line")["amount"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("kind", [pa.float64(), pa.float32()])
def test_nan_and_infinite_amounts_are_quarantined_never_summed(tmp_path, kind):
    run = _run(tmp_path, customer_id=pa.array(["C1", "C2", "C3", "C4"]),
               timestamp=pa.array([MOMENT] * 4, pa.timestamp("us")),
               amount=pa.array([1.0, float("nan"), float("inf"), float("-inf")], kind))

    assert run.clean()["amount"].tolist() == [1.0]
    q = run.quarantine().set_index("source_line")["rule"].to_dict()
    assert q == {2: "amount_unparseable", 3: "amount_unparseable", 4: "amount_unparseable"}


def _times() -> list[tuple[str, pa.Array]]:
    forms = []
    for unit in ("s", "ms", "us", "ns"):
        forms.append((f"naive-{unit}", pa.array([MOMENT] * 2, pa.timestamp(unit))))
        for zone in ("UTC", "America/New_York"):
            forms.append((f"{zone}-{unit}", pa.array([MOMENT] * 2, pa.timestamp(unit, tz=zone))))
    forms.append(("text-offset", pa.array(["2024-01-02T04:04:05+01:00"] * 2)))
    return forms


@pytest.mark.parametrize(("name", "times"), _times(), ids=[n for n, _ in _times()])
def test_timestamps_with_and_without_zone_in_every_unit_are_the_same_instant(tmp_path, name,
                                                                            times):
    run = _run(tmp_path, timestamp=times)

    assert run.clean()["timestamp"].tolist() == [pd.Timestamp(MOMENT)] * 2


@pytest.mark.parametrize("kind", [pa.date32(), pa.date64()])
def test_dates_are_midnight_in_data_timezone(tmp_path, kind):
    run = _run(tmp_path, TextFormat(timezone="Europe/Paris"),
               timestamp=pa.array([dt.date(2024, 1, 2)] * 2, kind))

    assert run.clean()["timestamp"].tolist() == [pd.Timestamp("2024-01-01 23:00")] * 2


EPOCHS = {"s": 1704164645, "ms": 1704164645_000, "us": 1704164645_000_000,
          "ns": 1704164645_000_000_000}


@pytest.mark.parametrize("unit", list(EPOCHS))
def test_integer_epochs_are_read_in_data_timestamp_unit(tmp_path, unit):
    run = _run(tmp_path, TextFormat(timestamp_unit=unit),
               timestamp=pa.array([EPOCHS[unit]] * 2, pa.int64()))

    assert run.clean()["timestamp"].tolist() == [pd.Timestamp(MOMENT)] * 2


def test_float_epochs_and_epoch_text_are_read_in_data_timestamp_unit(tmp_path):
    run = _run(tmp_path, TextFormat(timestamp_unit="s", timezone="Europe/Paris"),
               timestamp=pa.array([1704164645.5, 1704164645.0]))
    # Epochs are UTC whatever data.timezone says.
    assert run.clean().sort_values("source_line")["timestamp"].tolist() == [
        pd.Timestamp("2024-01-02 03:04:05.5"), pd.Timestamp(MOMENT)]

    run = validate(tmp_path, "customer_id,timestamp,amount\nC1,1704164645000,1\n",
                   text=TextFormat(timestamp_unit="ms"))
    assert run.clean()["timestamp"].tolist() == [pd.Timestamp(MOMENT)]


def test_integer_epochs_without_a_unit_are_refused_never_guessed(tmp_path):
    with pytest.raises(InputError) as raised:
        _run(tmp_path, timestamp=pa.array([EPOCHS["ms"]] * 2, pa.int64()))

    assert str(raised.value) == (
        f"{tmp_path / 'tx.parquet'}: column 'timestamp' (data.transactions timestamp) is stored "
        f"as BIGINT (e.g. '1704164645000'): numbers, not timestamps. If they are Unix epochs "
        f"(time since 1970-01-01 UTC), set data.timestamp_unit in params.yaml to their unit: "
        f"'s', 'ms', 'us' or 'ns'; 1704164645000 reads as out of range in 's', 2024-01-02 "
        f"03:04:05 in 'ms', 1970-01-20 17:22:44 in 'us', 1970-01-01 00:28:24 in 'ns'. "
        f"Otherwise export the column as timestamps.")


def test_an_epoch_out_of_range_of_its_unit_is_unparseable(tmp_path):
    run = _run(tmp_path, TextFormat(timestamp_unit="s"),
               timestamp=pa.array([EPOCHS["s"], EPOCHS["ns"]], pa.int64()))

    assert run.one_quarantined()[["source_line", "rule"]].tolist() == [
        2, "timestamp_unparseable"]


@pytest.mark.parametrize(("column", "values", "kind"), [
    ("customer_id", pa.array([{"a": 1}, {"a": 2}]), "STRUCT(a BIGINT)"),
    ("customer_id", pa.array([["C1"], ["C2"]]), "VARCHAR[]"),
    ("customer_id", pa.array([True, False]), "BOOLEAN"),
    ("amount", pa.array([[1.0], [2.0]]), "DOUBLE[]"),
    ("amount", pa.array([True, False]), "BOOLEAN"),
    ("amount", pa.array([{"v": 1.0}, {"v": 2.0}]), "STRUCT(v DOUBLE)"),
    ("timestamp", pa.array([dt.time(1, 2)] * 2, pa.time64("us")), "TIME"),
    ("timestamp", pa.array([[MOMENT], [MOMENT]]), "TIMESTAMP[]"),
], ids=["id-struct", "id-list", "id-bool", "amount-list", "amount-bool", "amount-struct",
        "timestamp-time", "timestamp-list"])
def test_nested_or_unsupported_types_are_refused_in_one_message(tmp_path, column, values, kind):
    with pytest.raises(InputError, match=re.escape(
            f"{tmp_path / 'tx.parquet'}: column {column!r} (data.transactions {column}) is "
            f"stored as {kind}")) as raised:
        _run(tmp_path, **{column: values})

    assert "export it as" in str(raised.value)


def test_nested_columns_outside_the_contract_are_kept_in_the_raw_row(tmp_path):
    run = _run(tmp_path, amount=pa.array([1.0, float("nan")]),
               extra=pa.array([{"a": 1}, {"a": 2}]))

    assert run.one_quarantined()["raw"] == (
        '{"customer_id":"C2","timestamp":"2024-01-02 03:04:05","amount":"nan",'
        '"extra":"{\'a\': 2}"}')


def test_zero_row_files(tmp_path):
    empty = {"customer_id": pa.array([], pa.string()),
             "timestamp": pa.array([], pa.timestamp("us")), "amount": pa.array([], pa.float64())}
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table(empty), path)
    with pytest.raises(InputError, match="the file has no data rows"):
        validate(tmp_path, path)

    interactions = tmp_path / "interactions.parquet"
    pq.write_table(pa.table({**empty, "kind": pa.array([], pa.string())}).drop(["amount"]),
                   interactions)
    run = validate(tmp_path, interactions=interactions)
    assert run.report["tables"]["interactions"]["rows_read"] == 0


@pytest.mark.parametrize("resolved", [
    pa.array([True, False]), pa.array([1, 0], pa.int8()), pa.array(["yes", "no"])])
def test_booleans_of_every_type(tmp_path, resolved):
    path = tmp_path / "interactions.parquet"
    pq.write_table(pa.table({"customer_id": ["C1", "C1"],
                             "timestamp": pa.array([MOMENT] * 2, pa.timestamp("ms")),
                             "kind": pa.array(["call", "complaint"]).dictionary_encode(),
                             "resolved": resolved}), path)
    run = validate(tmp_path, interactions=path)

    assert run.clean("interactions").sort_values("source_line")["resolved"].tolist() == [
        True, False]


def _table(**columns: pa.Array) -> pa.Table:
    names, arrays = zip(*[*BASE.items(), *columns.items()], strict=True)
    return pa.Table.from_arrays(list(arrays), names=list(names))


@pytest.mark.parametrize("column", ["customer_id", "timestamp", "amount"])
@pytest.mark.parametrize("folder", [False, True], ids=["file", "part_of_a_folder"])
def test_a_contract_column_twice_stops_as_in_a_csv_header(tmp_path, column, folder):
    # Read together, DuckDB would rename the second copy and drop it without a word.
    twice = pa.Table.from_arrays([*_table().columns, BASE[column]], names=[*BASE, column])
    path = tmp_path / ("tx" if folder else "tx.parquet")
    part = path / "part-1.parquet" if folder else path
    if folder:
        path.mkdir()
        pq.write_table(_table(), path / "part-0.parquet")
    pq.write_table(twice, part)
    shown = f"{part} (a part of {path})" if folder else str(part)
    with pytest.raises(InputError, match=re.escape(
            f"{shown}: column {column!r} appears 2 times in its columns; rename the copies")):
        validate(tmp_path, path)


def test_a_column_outside_the_contract_twice_is_read(tmp_path):
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.Table.from_arrays([*_table().columns, pa.array(["a", "b"]),
                                         pa.array(["c", "d"])], names=[*BASE, "note", "note"]),
                   path)

    assert validate(tmp_path, path).report["tables"]["transactions"]["rows_accepted"] == 2


@pytest.mark.parametrize(("column", "mapped"), [
    ("amount", {}), ("customer_id", {}), ("quantity", {"quantity": "qty"})])
def test_a_part_of_a_folder_without_a_required_column_stops_naming_it(tmp_path, column,
                                                                      mapped):
    # The other part holds it, so the folder's columns do; the part would be read as
    # rows without it (amount_missing), although the column is missing, not empty.
    folder = tmp_path / "tx"
    folder.mkdir()
    full = _table(qty=pa.array([1, 2]))
    pq.write_table(full, folder / "part-0.parquet")
    wanted = mapped.get(column, column)
    pq.write_table(full.drop([wanted]), folder / "part-1.parquet")
    with pytest.raises(InputError, match=re.escape(
            f"{folder / 'part-1.parquet'} (a part of {folder}): column {wanted!r} not found "
            f"in this part, although other parts hold it")):
        validate(tmp_path, folder, column_maps={"transactions": mapped})

    # An optional column that no mapping asks for may be absent from a part: null there.
    pq.write_table(full.drop(["qty"]), folder / "part-1.parquet")
    run = validate(tmp_path, folder)
    assert run.report["tables"]["transactions"]["rows_accepted"] == 4
