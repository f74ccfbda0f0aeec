"""Property-based tests of validation: generated inputs with random damage.

CSV bytes and Parquet tables are generated from the input contract, then
damaged (stray quotes, NUL and non-UTF-8 bytes, cut or doubled lines, blank
lines, other line breaks, a byte-order mark, gzip). Whatever the damage:

* validation ends in success or in an expected error whose exit code is in
  the documented set (``InputError``: 4), never in a traceback;
* on success the counts reconcile: the file's lines, counted here without the
  validation code, are the header, the blank lines and the lines of the records
  read; records read = accepted + quarantined = rows written; no two records
  start on the same line;
* the physical form of a file (line breaks, quoting, byte-order mark,
  compression) does not change what is read, and the two ways a chunk of lines
  is split (Arrow's parser, Python's csv module) give the same records.

``make test`` runs a bounded, derandomized number of examples (a fixed seed);
``make fuzz`` (``pytest tests/features/test_input_fuzz.py
--hypothesis-profile=fuzz``) runs thousands.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.validation import InputError, TextFormat, text_file
from features.validation.csv_records import _Reader
from pipeline.errors import EXIT_INPUT, EXPECTED
from tests.features.test_validation import Run, validate

#: The longer run: ``--hypothesis-profile=fuzz`` (registered in tests/conftest.py).
LONG = settings.default.max_examples >= 1000


def _settings(examples: int) -> settings:
    return settings(max_examples=settings.default.max_examples if LONG else examples,
                    derandomize=not LONG, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _exit_code(err: BaseException) -> int:
    for classes, _, code in EXPECTED:
        if isinstance(err, classes):
            return code
    raise err  # not an expected error: the test fails with its traceback


def _attempt(folder: Path, path: Path, text: TextFormat | None = None) -> Run | None:
    """Validate ``path``; None when it stops with an expected error naming the file."""
    try:
        return validate(folder, path, text=text)
    except InputError as err:
        assert _exit_code(err) == EXIT_INPUT
        assert str(path) in str(err), str(err)
        return None


# --------------------------------------------------------------------------
# Generated CSV exports
# --------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=8)
_VALUES = {
    "customer_id": st.one_of(st.sampled_from(["C1", "C2", "007", "Zoë", "", "NULL", " C3 "]),
                             _text),
    "timestamp": st.one_of(st.dates().map(str), st.sampled_from(
        ["2024-01-02 10:00:00", "2024-02-30", "", "1704067200", "31/12/2023",
         "2024-03-31T02:30:00+02:00"]), _text),
    "amount": st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.integers(-10**7, 10**7).map(str),
                        st.sampled_from(["12,50", "", "1e308", "-4.5"]), _text),
    "quantity": st.one_of(st.integers(-5, 10).map(str), st.just(""), _text),
    "channel": _text,
    "note": _text,
}


@st.composite
def exports(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]], int]:
    optional = draw(st.lists(st.sampled_from(["quantity", "channel", "note"]), unique=True))
    columns = draw(st.permutations(["customer_id", "timestamp", "amount", *optional]))
    rows = draw(st.lists(st.fixed_dictionaries({c: _VALUES[c] for c in columns}), max_size=20))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    return columns, rows, quoting


def _serialize(columns: list[str], rows: list[dict[str, str]], quoting: int,
               newline: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    return _re_end(out.getvalue(), newline)


def _re_end(text: str, newline: str) -> str:
    """``text`` with the line break ending each record replaced (mixed: LF and CRLF in
    turn); those inside quoted values stay LF."""
    out, inside, count = [], False, 0
    for line in text.split("\n")[:-1]:
        inside ^= line.count('"') % 2 == 1
        end = "\n" if inside else newline if newline != "mixed" else "\r\n" if count % 2 else "\n"
        count += not inside
        out.append(line + end)
    return "".join(out)


_INSERTS = [b'"', b"\x00", b"\xff", b"\xe9", b"\r", b"\n", b"\n\n", b",", b"   \n", b'""',
            b"\xef\xbb\xbf"]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    columns, rows, quoting = draw(exports())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    data = bytearray(_serialize(columns, rows, quoting, newline).encode("utf-8"))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "truncate", "double_line"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(_INSERTS))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "truncate" and at > 0:
            del data[at:]
        elif op == "double_line":
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            data[end:end] = data[start:end]
    if draw(st.booleans()):
        data[0:0] = b"\xef\xbb\xbf"
    return bytes(data)


def _lines(data: bytes) -> int:
    """The lines of a file, counted here: every CR, LF or CRLF ends one."""
    text = data.decode("utf-8", "surrogateescape")
    parts = re.split(r"\r\n|\r|\n", text)
    return len(parts) - (parts[-1] == "")


def _check_reconciled(run: Run, data: bytes) -> None:
    t = run.report["tables"]["transactions"]
    f = t["file"]
    assert t["reconciled"] is True and run.report["totals"]["reconciled"] is True
    assert f["lines"] == _lines(data)
    assert f["lines"] == f["header_lines"] + f["blank_lines"] + f["record_lines"]
    assert f["records"] == t["rows_read"] == t["rows_accepted"] + t["rows_quarantined"]
    clean, q = run.clean(), run.quarantine()
    assert len(clean) == t["rows_accepted"] and len(q) == t["rows_quarantined"]
    starts = [*clean["source_line"], *q["source_line"]]
    assert len(set(starts)) == len(starts), "two records start on one line"
    assert all(f["header_lines"] < line <= f["lines"] for line in starts)


@_settings(40)
@given(data=damaged(), packed=st.booleans())
def test_damaged_csv_never_loses_a_record_nor_ends_in_a_traceback(data, packed):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "tx.csv"
        path.write_bytes(gzip.compress(data, mtime=0) if packed else data)
        run = _attempt(folder, path)
        if run is not None:
            _check_reconciled(run, data)


def _outcome(run: Run | None) -> object:
    if run is None:
        return None
    clean = run.clean().drop(columns=["source_file"]).sort_values("source_line")
    q = run.quarantine()[["source_line", "rule"]].sort_values("source_line")
    return clean.astype(str).to_dict("list"), q.to_dict("list")  # str: NaN equals NaN


@_settings(15)
@given(export=exports(), newline=st.sampled_from(["\r\n", "\r", "mixed"]),
       bom=st.booleans(), packed=st.booleans())
def test_the_physical_form_of_a_file_does_not_change_what_is_read(export, newline, bom, packed):
    columns, rows, _ = export
    canonical = _serialize(columns, rows, csv.QUOTE_MINIMAL).encode("utf-8")
    variant = ("\ufeff" if bom else "").encode() + _serialize(
        columns, rows, csv.QUOTE_ALL, newline).encode("utf-8")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate((canonical, gzip.compress(variant) if packed else variant)):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            path = folder / "tx.csv"
            path.write_bytes(data)
            outcomes.append(_outcome(_attempt(folder, path)))
    assert outcomes[0] == outcomes[1]


@_settings(15)
@given(data=damaged(), chunk=st.integers(1, 200))
def test_arrow_and_the_csv_module_split_lines_alike_in_chunks_of_any_size(data, chunk):
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for way in ("as_is", "small_chunks", "line_by_line"):
            folder = Path(tmp) / way
            folder.mkdir()
            path = folder / "tx.csv"
            path.write_bytes(data)
            with contextlib.ExitStack() as patches:
                if way == "small_chunks":  # quoted values and CRLF cut by chunk ends
                    patches.enter_context(mock.patch.object(text_file, "CHUNK_BYTES", chunk))
                if way == "line_by_line":
                    patches.enter_context(
                        mock.patch.object(_Reader, "_fast", lambda self, end: None))
                run = _attempt(folder, path)
            outcomes.append(None if run is None else (
                _outcome(run), run.quarantine()["raw"].sort_values().tolist()))
    assert outcomes[0] == outcomes[1] == outcomes[2]


# --------------------------------------------------------------------------
# Generated Parquet tables
# --------------------------------------------------------------------------

_ID_TYPES = [pa.string(), pa.large_string(), pa.int64(), pa.uint32(), pa.float64(),
             pa.binary(), pa.struct([("a", pa.int8())])]
_AMOUNT_TYPES = [pa.float64(), pa.float32(), pa.int32(), pa.decimal128(12, 2), pa.string(),
                 pa.bool_(), pa.list_(pa.float64())]
_TIME_TYPES = [pa.timestamp("s"), pa.timestamp("ns", tz="Europe/Paris"), pa.date32(),
               pa.int64(), pa.float64(), pa.string(), pa.time64("us")]


def _column(draw: st.DrawFn, kind: pa.DataType, n: int) -> pa.Array:
    if pa.types.is_struct(kind):
        return pa.array([{"a": i % 100} for i in range(n)], kind)
    if pa.types.is_list(kind):
        return pa.array([[float(i)] for i in range(n)], kind)
    if pa.types.is_boolean(kind):
        return pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), kind)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        moments = draw(st.lists(st.datetimes(), min_size=n, max_size=n))
        if pa.types.is_date(kind):
            return pa.array([m.date() for m in moments], kind)
        if pa.types.is_time(kind):
            return pa.array([m.time() for m in moments], kind)
        return pa.array(moments, pa.timestamp("us")).cast(kind, safe=False)
    if pa.types.is_decimal(kind):
        return pa.array([None if v is None else round(v, 2) for v in draw(st.lists(
            st.none() | st.decimals(-10**6, 10**6, places=2), min_size=n, max_size=n))], kind)
    if pa.types.is_floating(kind):
        return pa.array(draw(st.lists(st.none() | st.floats(width=32), min_size=n, max_size=n)),
                        kind)
    if pa.types.is_integer(kind):
        low = 0 if pa.types.is_unsigned_integer(kind) else -(2**31)
        return pa.array(draw(st.lists(st.none() | st.integers(low, 2**31), min_size=n,
                                      max_size=n)), kind)
    values = draw(st.lists(st.none() | _text, min_size=n, max_size=n))
    return pa.array([None if v is None else v.encode() if kind == pa.binary() else v
                     for v in values], kind)


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 12))
    kinds = {"customer_id": draw(st.sampled_from(_ID_TYPES)),
             "timestamp": draw(st.sampled_from(_TIME_TYPES)),
             "amount": draw(st.sampled_from(_AMOUNT_TYPES))}
    columns = {name: _column(draw, kind, n) for name, kind in kinds.items()}
    if draw(st.booleans()):
        columns["extra"] = pa.array([{"a": i} for i in range(n)])
    return pa.table(columns)


@_settings(30)
@given(table=parquet_tables(), unit=st.sampled_from([None, "s", "ms"]))
def test_parquet_of_any_type_is_read_or_refused_by_name(table, unit):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "tx.parquet"
        pq.write_table(table, path)
        run = _attempt(folder, path, TextFormat(timestamp_unit=unit))
        if run is not None:
            t = run.report["tables"]["transactions"]
            assert t["rows_read"] == table.num_rows == t["rows_accepted"] + t["rows_quarantined"]
            assert t["reconciled"] is True
            assert len(run.clean()) + len(run.quarantine()) == table.num_rows
