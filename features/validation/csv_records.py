"""The records of a CSV file, found from its own lines, loaded into DuckDB.

The lines come from :class:`~features.validation.text_file.TextFile`; the
header is the first line that is not blank. Records are counted from the
file's lines, never from what a parser happened to return:

* A line is one record, unless a quoted value opened on it (a ``"`` at the
  start of a field) holds line breaks: then the record runs to the line where
  the quote closes, provided that those lines split into the header's number of
  fields and that no contract column's value holds a line break (ids, times,
  amounts and the other contract values never do; a free-text column may).
  Otherwise the quote is unterminated: that one line is quarantined
  (``malformed_line``, ``UNQUOTED VALUE``) and reading resumes at the next
  line, so that a stray quote costs one line, never the rest of the file. When
  the quote does close on a later line, but inside a field of that line (the
  ``01"`` of ``"C0`` / ``01",2024-01-02,10``: a line break in a contract value),
  that line is the end of the record, not a record of its own, and is
  quarantined too; a closing quote at the start of a field (a well-formed
  ``"note"`` after a stray quote) leaves its line to be read.
* Blank and whitespace-only lines are not records; they are counted.
* A line holding a NUL character, bytes that do not decode in
  ``data.encoding``, or more than :data:`MAX_RECORD_CHARS` characters is
  quarantined with its number and the reason.
* Fields are split as RFC 4180 says, leniently: a quote is special only at the
  start of a field, ``""`` inside quotes is one quote, characters after a
  closing quote are kept. A record of another number of fields than the header
  is quarantined (``TOO MANY COLUMNS``, ``MISSING COLUMNS``).

Every line is thus the header, blank, or inside exactly one record read (kept
in the raw table or in the bad table): the reader's counts, which
:mod:`~features.validation.csv_load` hands to :mod:`~features.validation.report`,
reconcile. A chunk of lines in which
no line is damaged and each line is one record (almost every chunk of a usual
export, quoted or not) is split by Arrow's CSV parser; the others by Python's
:mod:`csv` module line by line, with the same rules (a property test holds the
two equal, for chunks of any size).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from features.errors import InputError
from features.validation.parsing import _WHITESPACE
from features.validation.text_file import (
    MAX_RECORD_CHARS,
    TextFile,
    encoding_hint,
    undecodable,
)

# Trimmed around header names, with the zero-width characters a copy may add.
_NAME_TRIM = _WHITESPACE + "\u200b\u200c\u200d\u2060"
_SHOWN = 10_000  # characters of a malformed line kept in the quarantine


@dataclass
class _Batch:
    """Records read from a stretch of lines: clean ones as Arrow, malformed ones as tuples."""

    table: pa.Table
    bad: list[tuple[int, str, str, str]] = field(default_factory=list)


def _clean_name(raw: str) -> str:
    """A header name without padding or the quotes of a doubly quoted export."""
    name = raw.strip(_NAME_TRIM)
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('""', '"').strip(_NAME_TRIM)
    return name


def _lines(first: int, count: int) -> str:
    return f"line {first}" if count == 1 else f"lines {first}-{first + count - 1}"


def _damage(line: str) -> tuple[str, str] | None:
    if "\x00" in line:
        return ("NUL BYTE", f"the line holds {line.count(chr(0))} NUL character(s), which no "
                            f"text export writes: the file was damaged (e.g. padded with zeros "
                            f"by an interrupted write)")
    if len(line) > MAX_RECORD_CHARS:
        return ("LINE SIZE OVER MAXIMUM", f"the line is longer than {MAX_RECORD_CHARS:,} "
                                          f"characters; no record of the contract is that long")
    return None


class _Reader:
    """Lines in, records out, with the counts that prove that no line was lost."""

    def __init__(self, text_file: TextFile, delimiter: str) -> None:
        self.file = text_file
        self.delimiter = delimiter
        self._batches = text_file.batches()
        self.buf: list[str] = []
        self.base = 1  # line number of buf[0]
        self.i = 0  # next line to read, in buf
        self.width = 0
        self.contract: dict[int, str] = {}  # position -> contract column
        self.counts = {"header_lines": 0, "blank_lines": 0, "record_lines": 0, "records": 0}
        # The ends of records that did not read as one, quarantined when reached: first
        # line number -> (the line the quote it closes opened on, the lines of the end).
        self.tails: dict[int, tuple[int, int]] = {}

    def _more(self) -> bool:
        batch = next(self._batches, None)
        if batch is None:
            return False
        self.buf.extend(batch)
        return True

    def _shown(self, line: str) -> str:
        line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return line if len(line) <= _SHOWN else line[:_SHOWN] + f"… ({len(line):,} characters)"

    # ---- one record -------------------------------------------------------

    def _quoted(self, k: int, *, header: bool = False) -> tuple[list[str], int, str | None]:
        """Fields of the record starting at line ``k`` of the buffer, the lines it spans,
        and why its quote is unterminated (None when it closes)."""
        state: dict[str, Any] = {"n": 0, "size": 0, "stop": None}

        def lines() -> Iterator[str]:
            j = k
            while j < len(self.buf) or self._more():
                line = self.buf[j]
                if j > k and (_damage(line) or undecodable(line)):
                    state["stop"] = f"before line {self.base + j}, which is damaged"
                    return
                if j > k and self.base + j in self.tails:
                    state["stop"] = (f"before line {self.base + j}, which ends the quoted value "
                                     f"opened on line {self.tails[self.base + j][0]}")
                    return
                state["size"] += len(line) + 1
                if j > k and state["size"] > MAX_RECORD_CHARS:
                    state["stop"] = f"within {MAX_RECORD_CHARS:,} characters"
                    return
                state["n"] += 1
                yield line + "\n"
                j += 1
            state["stop"] = "before the end of the file"

        reader = csv.reader(lines(), delimiter=self.delimiter, quotechar='"', doublequote=True,
                            strict=False)
        fields = next(reader, [])
        span = max(state["n"], 1)
        if state["stop"] is not None:
            return fields, span, (f"unterminated quote: the quoted value opened on this line "
                                  f"is not closed {state['stop']}")
        if header or span == 1:
            return fields, span, None
        if len(fields) != self.width:
            return fields, span, self._not_one(k, span, len(fields))
        for pos, column in self.contract.items():
            if "\n" in fields[pos]:
                return fields, span, self._not_one(k, span, None, column)
        return fields, span, None

    def _mark_tail(self, k: int, span: int) -> str:
        """Note the end of the record opened on line ``k`` that did not read as one (see
        :meth:`_tail`), to quarantine when reached; the words that say so, or ''."""
        tail = None if span == 1 else self._tail(k, span)
        if tail is None:
            return ""
        self.tails[self.base + tail] = (self.base + k, k + span - tail)
        return f"; {_lines(self.base + tail, k + span - tail)}, where it closes, quarantined too"

    def _end_of(self, number: int) -> tuple[tuple[str, str], int]:
        """The reason of the end of a record noted by :meth:`_mark_tail`, and its lines."""
        opened, span = self.tails.pop(number)
        end = ("this line is its end, not a record of its own" if span == 1 else
               f"{_lines(number, span)} are its end, not records of their own")
        return ("UNQUOTED VALUE", f"the quote on this line closes the quoted value opened on "
                                  f"line {opened}, which does not read as one record: {end}"), span

    def _tail(self, k: int, span: int) -> int | None:
        """The line (in the buffer) where the quoted value left open at the end of line ``k``
        closes, when the closing quote stands inside a field of that line: read on its own,
        the line would be the end of the record made into a record of its own (``01"`` of
        ``"C0`` / ``01",...``). None when the quote closes at the start of a field: a
        quoted value of that line, the quote on line ``k`` being stray."""
        for j in range(k + 1, min(k + span, len(self.buf))):
            line, at = self.buf[j], 0
            while (at := line.find('"', at)) >= 0:
                if line.startswith('""', at):  # a quote inside the value
                    at += 2
                    continue
                return None if at == 0 or line[at - 1] == self.delimiter else j
        return None

    def _open_at_end(self, line: str) -> bool:
        """Whether a line ends inside a quoted value."""
        asked: list[bool] = []

        def one() -> Iterator[str]:
            yield line + "\n"
            asked.append(True)

        next(csv.reader(one(), delimiter=self.delimiter, quotechar='"', strict=False), None)
        return bool(asked)

    def _not_one(self, k: int, span: int, found: int | None, column: str = "") -> str:
        last = self.base + k + span - 1
        why = (f"{found} fields, the header has {self.width}" if found is not None
               else f"the value of {column} would hold a line break")
        return (f"unterminated quote: the quoted value opened on this line closes on line "
                f"{last}, but lines {self.base + k}-{last} do not read as one record ({why})")

    def _columns_message(self, found: int) -> tuple[str, str]:
        kind = "TOO MANY COLUMNS" if found > self.width else "MISSING COLUMNS"
        return kind, f"Expected Number of Columns: {self.width} Found: {found}"

    # ---- the header -------------------------------------------------------

    def header(self) -> tuple[list[str], str] | None:
        """The header's fields and its text, or None for a file with no line that is not
        blank."""
        while self.i < len(self.buf) or self._more():
            line = self.buf[self.i]
            if not line or line.isspace():
                self.counts["blank_lines"] += 1
                self.i += 1
                continue
            number = self.base + self.i
            where = f"{self.file.path}: the header (line {number})"
            if undecodable(line):
                raise InputError(f"{where} is not {self.file.encoding!r} text: "
                                 f"{encoding_hint(line, self.file.encoding)}; or save the "
                                 f"file as UTF-8 (data.{self.file.table} in params.yaml).")
            damage = _damage(line)
            if damage is not None:
                raise InputError(f"{where} cannot be read: {damage[1]}.")
            fields, span, why = self._quoted(self.i, header=True) if '"' in line else (
                line.split(self.delimiter), 1, None)
            if why is not None:
                raise InputError(f"{where} has an {why}: fix the header's quotes.")
            self.counts["header_lines"] = span
            self.i += span
            return fields, line
        return None

    # ---- the records --------------------------------------------------------

    def records(self) -> Iterator[_Batch]:
        """Batches of records until the end of the file."""
        while True:
            if self.i:  # forget the lines read (a quoted value may have run on past them)
                self.base += self.i
                del self.buf[: self.i]
                self.i = 0
            if not self.buf and not self._more():
                return
            end = len(self.buf)
            batch = self._fast(end)
            yield batch if batch is not None else self._slow(end)

    def _fast(self, end: int) -> _Batch | None:
        """The lines up to ``end`` split by Arrow, if none is damaged and each is one record.

        Arrow reads a quoted value on past the end of its line as the csv module
        does, but says nothing of a quote left open at the end of its input: a
        region whose records are fewer than its lines, or whose last line leaves
        a quote open, goes to :meth:`_slow` (which follows the values' lines and
        finds unterminated quotes)."""
        region = self.buf[self.i:end]
        first = self.base + self.i
        if any(first <= line < first + len(region) for line in self.tails):
            return None  # the end of a record that did not read as one: see _slow
        joined = "\n".join(region)
        if "\x00" in joined or max(map(len, region)) > MAX_RECORD_CHARS:
            return None
        quoted = '"' in joined
        if quoted and self._open_at_end(region[-1]):
            return None
        keep = range(len(region))
        if "" in region or any(map(str.isspace, region)):
            keep = [k for k, line in enumerate(region) if line and not line.isspace()]
            joined = "\n".join(region[k] for k in keep)
        try:
            data = joined.encode("utf-8")
        except UnicodeEncodeError:
            return None  # undecodable bytes: the slow path names the lines
        numbers = (np.arange(len(region), dtype=np.int64) if isinstance(keep, range)
                   else np.asarray(keep, np.int64)) + (self.base + self.i)
        names = [f"c{j}" for j in range(self.width)]
        invalid: list[tuple[int, int]] = []

        def handler(row: Any) -> str:
            invalid.append((row.number - 1, row.actual_columns))
            return "skip"

        try:
            table = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                               block_size=max(1 << 20, len(data) + 1)),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter,
                                                 quote_char='"' if quoted else False,
                                                 double_quote=True, invalid_row_handler=handler),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowInvalid:
            return None
        if table.num_rows + len(invalid) != len(keep) or any(n is None for n, _ in invalid):
            return None
        bad = []
        for index, found in invalid:
            kind, message = self._columns_message(found)
            bad.append((int(numbers[index]), kind, message, self._shown(region[keep[index]])))
        lines = np.delete(numbers, [n for n, _ in invalid]) if invalid else numbers
        self._count(len(region) - len(keep), len(keep), len(keep))
        self.i = end
        return _Batch(table.append_column("__line", pa.array(lines, pa.int64())), bad)

    def _slow(self, end: int) -> _Batch:
        """The lines up to ``end`` (and those a quoted value runs on to), one by one."""
        rows: list[list[str]] = []
        lines: list[int] = []
        bad: list[tuple[int, str, str, str]] = []
        while self.i < end:
            k = self.i
            line = self.buf[k]
            number = self.base + k
            if not line or line.isspace():
                self._count(1, 0, 0)
                self.i += 1
                continue
            fields: list[str] = []
            span = 1
            damage = (("INVALID ENCODING", encoding_hint(line, self.file.encoding))
                      if undecodable(line) else _damage(line))
            if damage is None and number in self.tails:
                damage, span = self._end_of(number)
            elif damage is None and '"' in line:
                fields, span, why = self._quoted(k)
                if why is not None:
                    damage, span = ("UNQUOTED VALUE", why + self._mark_tail(k, span)), 1
            elif damage is None:
                fields = line.split(self.delimiter)
            if damage is None and len(fields) != self.width:
                damage = self._columns_message(len(fields))
            if damage is not None:
                bad.append((number, *damage, self._shown("\n".join(self.buf[k:k + span]))))
                self._count(0, span, 1)
                self.i += span
                continue
            rows.append(fields)
            lines.append(number)
            self._count(0, span, 1)
            self.i += span
        columns = list(zip(*rows, strict=True)) if rows else [()] * self.width
        arrays = {f"c{j}": pa.array(col, pa.string()) for j, col in enumerate(columns)}
        arrays["__line"] = pa.array(lines, pa.int64())
        return _Batch(pa.table(arrays), bad)

    def _count(self, blank: int, spanned: int, records: int) -> None:
        self.counts["blank_lines"] += blank
        self.counts["record_lines"] += spanned
        self.counts["records"] += records
