"""A CSV file as numbered lines of text: compression, encoding and line breaks.

The first bytes of a file say what it is, whatever its name: gzip, bzip2 and xz
data are decompressed (a ``.csv`` holding gzip bytes is read like a
``.csv.gz``); a ZIP archive (an ``.xlsx`` workbook), an old ``.xls`` workbook,
a Parquet file, zstd data, or UTF-16/UTF-32 text read as another encoding stop
with a message saying what the file is. The text is decoded with
``data.encoding`` (a UTF-8 byte-order mark dropped) and split at every line
break: LF, CRLF and CR alone, mixed in one file too, each counted.

A line is never dropped here: one holding bytes that do not decode in
``data.encoding`` keeps them as lone surrogates (``surrogateescape``) and one
longer than :data:`MAX_RECORD_CHARS` is cut to that length plus one character,
so that :mod:`~features.validation.csv_records` can quarantine it with its
number (:func:`undecodable`, :func:`encoding_hint`).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import lzma
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from features.errors import InputError

#: Bytes read at a time (of the decompressed file).
CHUNK_BYTES = 8 << 20
#: A record (one line, or the lines of a quoted value) longer than this many characters
#: is not a record of the contract: it is quarantined (``malformed_line``).
MAX_RECORD_CHARS = 1 << 20

_COMPRESSED: tuple[tuple[bytes, str, Any], ...] = (
    (b"\x1f\x8b", "gzip", lambda f: gzip.GzipFile(fileobj=f)),
    (b"BZh", "bzip2", bz2.BZ2File),
    (b"\xfd7zXZ\x00", "xz", lzma.LZMAFile),
)
_NOT_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook or a zipped file): save the sheet "
                    "as CSV, or unzip the file"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook: save the sheet as CSV"),
    (b"PAR1", "a Parquet file: give it a .parquet name"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it (zstd -d) or export it with gzip"),
)
# UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def _codec(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "utf-8" if name == "utf-8-sig" else name


@dataclass
class TextFile:
    """The lines of one CSV file, read chunk by chunk (see :meth:`batches`).

    After reading, ``lines`` is the number of lines of the file (a last line
    without a line break counts; an empty file has none) and ``endings`` counts
    the line breaks of each kind.
    """

    table: str
    path: Path
    encoding: str = "utf-8"
    compression: str | None = None
    byte_order_mark: bool = False
    lines: int = 0
    endings: dict[str, int] = field(default_factory=lambda: {"lf": 0, "crlf": 0, "cr": 0})

    def _open(self, stack: contextlib.ExitStack) -> BinaryIO:
        try:
            raw = stack.enter_context(open(self.path, "rb"))  # noqa: SIM115
            head = raw.read(8)
            raw.seek(0)
        except OSError as err:
            raise InputError(f"{self.path}: cannot read data.{self.table}: {err}") from err
        for magic, name, opener in _COMPRESSED:
            if head.startswith(magic):
                self.compression = name
                return stack.enter_context(opener(raw))
        self._refuse(head, packed=False)
        return raw

    def _refuse(self, head: bytes, *, packed: bool) -> None:
        inside = f" ({self.compression}-compressed)" if packed else ""
        for magic, what in _NOT_TEXT:
            if head.startswith(magic):
                raise InputError(f"{self.path}: data.{self.table} is {what}{inside}; it is "
                                 f"not a CSV text file.")
        codec = _codec(self.encoding)
        name = next((name for bom, name in _BOMS if head.startswith(bom)), None)
        if name is not None and not codec.startswith(name):
            raise InputError(
                    f"{self.path}: the file is {name.upper()} text{inside} (it starts with a "
                    f"{name.upper()} byte-order mark) but data.encoding is {self.encoding!r}: "
                    f"set data.encoding: {name} in params.yaml, or save the file as UTF-8.")
        if head.startswith(codecs.BOM_UTF8) and codec != "utf-8":
            raise InputError(
                f"{self.path}: the file starts with a UTF-8 byte-order mark but data.encoding "
                f"is {self.encoding!r}: set data.encoding: utf-8 in params.yaml.")

    def batches(self) -> Iterator[list[str]]:
        """Successive lists of complete lines (without their line breaks), in file order.

        Raises
        ------
        InputError
            The file cannot be read, or is not CSV text (see the module docstring).
        """
        codec = _codec(self.encoding)
        decoder = codecs.getincrementaldecoder("utf-8-sig" if codec == "utf-8" else codec)(
            errors="surrogateescape")
        carry = ""  # the partial last line, or a CR that may begin a CRLF
        first = True
        try:
            with contextlib.ExitStack() as stack:
                f = self._open(stack)
                while True:
                    chunk = f.read(CHUNK_BYTES)
                    if first:
                        if self.compression is not None:
                            self._refuse(chunk[:8], packed=True)
                        self.byte_order_mark = chunk.startswith(codecs.BOM_UTF8)
                        first = False
                    text = carry + decoder.decode(chunk, final=not chunk)
                    if chunk and text.endswith("\r"):
                        text, carry = text[:-1], "\r"
                    else:
                        carry = ""
                    lines = self._split(text)
                    if chunk:
                        carry = lines.pop() + carry
                    elif lines and lines[-1] == "":
                        lines.pop()  # the file ends with a line break
                    if len(carry) > MAX_RECORD_CHARS:  # a line without end: keep its head
                        carry = carry[: MAX_RECORD_CHARS + 1]
                    self.lines += len(lines)
                    if lines:
                        yield lines
                    if not chunk:
                        return
        except (OSError, EOFError, lzma.LZMAError) as err:
            what = f"{self.compression} data" if self.compression else "the file"
            raise InputError(f"{self.path}: cannot read {what} of data.{self.table} (truncated "
                             f"or corrupt?): {err}") from err

    def _split(self, text: str) -> list[str]:
        crlf = text.count("\r\n")
        cr = text.count("\r") - crlf
        self.endings["crlf"] += crlf
        self.endings["cr"] += cr
        self.endings["lf"] += text.count("\n") - crlf
        if crlf:
            text = text.replace("\r\n", "\n")
        if cr:
            text = text.replace("\r", "\n")
        lines = text.split("\n")
        if len(text) > MAX_RECORD_CHARS and max(map(len, lines)) > MAX_RECORD_CHARS:
            lines = [line[: MAX_RECORD_CHARS + 1] for line in lines]
        return lines

    def report(self) -> dict[str, Any]:
        return {"lines": self.lines, "line_breaks": dict(self.endings),
                "compression": self.compression, "encoding": self.encoding,
                "byte_order_mark": self.byte_order_mark}


def undecodable(line: str) -> bool:
    """Whether a line holds bytes that did not decode (kept as lone surrogates)."""
    if line.isascii():
        return False
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def encoding_hint(line: str, encoding: str) -> str:
    """Why a line does not decode, and the ``data.encoding`` that would read it."""
    raw = line.encode("utf-8", "surrogateescape")
    bad = next(i for i, ch in enumerate(line) if "\udc80" <= ch <= "\udcff")
    byte = ord(line[bad]) - 0xDC00
    said = f"byte 0x{byte:02X} at character {bad + 1} is not {encoding!r} text"
    if _codec(encoding) != "utf-8":
        return said
    for candidate in ("cp1252", "latin-1"):
        try:
            shown = raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return (f"{said}; in {candidate} the line reads {_clip(shown)!r}: if the file was "
                f"saved that way (Excel, older systems), set data.encoding: {candidate} in "
                f"params.yaml")
    return said


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "…"
