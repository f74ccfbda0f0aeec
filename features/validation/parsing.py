"""Parsing values with SQL: texts, numbers and timestamps, and the hints of their reasons.

:class:`_Parse` collects, for one table, the SQL of each trimmed text (layer
1), of each typed value (layer 2), of the outputs and of the rules. Numbers
follow ``data.decimal`` and ``data.thousands``; timestamps follow
``data.timestamp_format`` (ISO 8601 when null) in ``data.timezone`` and come
out as naive UTC; numbers are Unix epochs in ``data.timestamp_unit`` when it is
set (UTC, whatever the zone). A value that does not parse gets a hint naming the setting
that would read it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from features.validation.column_types import (
    AWARE_TIME_TYPES,
    NAIVE_TIME_TYPES,
    _epoch_sql,
    _family,
)
from features.validation.options import TextFormat
from features.validation.sources import _Source
from features.validation.sql import _Params

# Whitespace trimmed around every text value (ids keep everything else): the ASCII
# kinds, every Unicode space and line or paragraph separator (no-break, ideographic
# U+3000, thin ...: categories Zs, Zl, Zp, all in the first plane) and a byte-order
# mark. NEL (U+0085) is a control character, refused in an id rather than trimmed.
_WHITESPACE = "\t\n\r\x0b\x0c\ufeff" + "".join(
    c for c in map(chr, range(0x10000)) if unicodedata.category(c) in ("Zs", "Zl", "Zp"))
# A UTC offset is at most 14 hours either way (Kiribati's +14:00 is the largest in use;
# ISO 8601 would write up to 23:59, which no zone has): +25:00, +23:60 or +00:99 are
# typing errors, never applied. The hours of a time run 00 to 23: ISO's 24:00 (the
# end of a day) is not read, so that a timestamp names one day only.
_OFFSET = r"[+-](?:(?:0\d|1[0-3])(?::?[0-5]\d)?|14(?::?00)?)"
_ISO_PATTERN = (r"^\d{4}-\d{2}-\d{2}"
                r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?"
                rf"(?:Z|{_OFFSET})?)?$")
# The offset ending a text (group 1), valid or not: after the time of an ISO 8601
# timestamp, and at the end of a data.timestamp_format ending with %z.
_END_OFFSET = r"([+-]\d{2}(?::?\d{2})?)$"
_ANY_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?([+-]\d{2}(?::?\d{2})?)$"
_ISO_TEXT = ("ISO 8601 timestamp (YYYY-MM-DD, optionally THH:MM[:SS[.ffffff]], hours 00 to 23, "
             "and Z or a UTC offset +HH:MM from -14:00 to +14:00)")

_NUMERIC_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
    r"|FLOAT|DOUBLE|DECIMAL.*)$"
)
_INTEGER_TYPES = re.compile(r"^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$")


@dataclass
class _Parse:
    """Expressions for one table: layer-1 texts, layer-2 values, then rules and outputs."""

    p: _Params
    source: _Source
    text: TextFormat
    texts: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    rules: list[tuple[str, str, str]] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)

    def raw_type(self, column: str) -> str | None:
        pos = self.source.positions.get(column)
        return None if pos is None else self.source.types[pos]

    def text_of(self, column: str) -> str:
        """Trimmed text of a contract column (NULL when absent or empty)."""
        pos = self.source.positions.get(column)
        if pos is None:
            expr = "CAST(NULL AS VARCHAR)"
        elif self.source.types[pos] not in ("VARCHAR", "BLOB"):
            expr = f"CAST(c{pos} AS VARCHAR)"
        else:
            # trim() with a set of characters is slow; most values start and
            # end with printable ASCII and need no trimming at all. Binary
            # values are their UTF-8 text (NUL bytes included, for the rules
            # to see); bytes that are not UTF-8 keep DuckDB's escaped form
            # (Q\xFF), which :meth:`not_utf8` tells apart.
            c = self._as_text(pos)
            expr = (f"nullif(CASE WHEN ascii({c}) BETWEEN 33 AND 126 "
                    f"AND ascii({c}[-1:]) BETWEEN 33 AND 126 THEN {c} "
                    f"ELSE trim({c}, {self.p(_WHITESPACE)}) END, '')")
        self.texts[f"t_{column}"] = expr
        return f"t_{column}"

    def _as_text(self, pos: int) -> str:
        c = f"c{pos}"
        return c if self.source.types[pos] != "BLOB" else (
            f"coalesce(try(decode({c})), CAST({c} AS VARCHAR))")

    def untrimmed(self, column: str) -> str | None:
        """Text of a text or binary contract column as written, untrimmed; None for other
        types and absent columns."""
        pos = self.source.positions.get(column)
        if pos is None or self.source.types[pos] not in ("VARCHAR", "BLOB"):
            return None
        self.texts[f"w_{column}"] = self._as_text(pos)
        return f"w_{column}"

    def not_utf8(self, column: str) -> str:
        """SQL true for a binary value whose bytes are not UTF-8 text."""
        pos = self.source.positions.get(column)
        if pos is None or self.source.types[pos] != "BLOB":
            return "false"
        self.texts[f"u_{column}"] = f"(c{pos} IS NOT NULL AND try(decode(c{pos})) IS NULL)"
        return f"u_{column}"

    def raw_of(self, column: str) -> str:
        pos = self.source.positions[column]
        self.texts[f"r_{column}"] = f"c{pos}"
        return f"r_{column}"

    def shown(self, column_text: str) -> str:
        """SQL for a value shown in a reason: JSON-quoted text."""
        return f"CAST(to_json({column_text}) AS VARCHAR)"


def _number_pattern(decimal: str, thousands: str | None) -> tuple[str, str]:
    """RE2 pattern of a number as text, and of the thousands separators to remove."""
    dec = {".": "[.]", ",": "[,]"}[decimal]
    seps = {".": "[.]", ",": "[,]", " ": "[ \u00a0\u202f]", "'": "['\u2019]"}
    if thousands is None:
        integer, remove = r"\d+", ""
    else:
        integer, remove = rf"(?:\d{{1,3}}(?:{seps[thousands]}\d{{3}})+|\d+)", seps[thousands]
    return rf"^[+-]?(?:{integer}(?:{dec}\d*)?|{dec}\d+)(?:[eE][+-]?\d+)?$", remove


def _number_sql(parse: _Parse, t: str, decimal: str, thousands: str | None) -> str:
    """SQL of the number the text ``t`` reads as with these settings (NULL when none)."""
    pattern, remove = _number_pattern(decimal, thousands)
    normal = t
    if remove:
        normal = f"regexp_replace({normal}, {parse.p(remove)}, '', 'g')"
    if decimal == ",":
        normal = f"replace({normal}, ',', '.')"
    return (f"CASE WHEN regexp_full_match({t}, {parse.p(pattern)}) "
            f"THEN TRY_CAST({normal} AS DOUBLE) END")


def _number(parse: _Parse, column: str) -> tuple[str, str]:
    """Register text and value of a numeric column; return SQL for both (value finite or NULL)."""
    t = parse.text_of(column)
    raw_type = parse.raw_type(column)
    if raw_type is not None and _NUMERIC_TYPES.match(raw_type):
        r = parse.raw_of(column)
        value = f"CAST({r} AS DOUBLE)"
    else:
        value = _number_sql(parse, t, parse.text.decimal, parse.text.thousands)
    parse.values[f"v_{column}"] = value
    # NaN and infinities (Parquet doubles, or 1e999 as text) are not numbers.
    return t, f"(CASE WHEN isfinite(v_{column}) THEN v_{column} END)"


def _number_words(text: TextFormat) -> str:
    thousands = "null" if text.thousands is None else repr(text.thousands)
    return f"with data.decimal {text.decimal!r} and data.thousands {thousands}"


# Number formats tried on a value that does not parse, to say which setting reads it.
_NUMBER_FORMATS: tuple[tuple[str, str | None], ...] = (
    (",", None), (".", ","), (",", "."), (",", " "), (".", " "), (".", "'"))


def _number_hint(parse: _Parse, t: str) -> str:
    """SQL for a hint ending a reason: the data.decimal/data.thousands that read ``t``, or ''."""
    p = parse.p
    branches = []
    current = (parse.text.decimal, parse.text.thousands)
    # The formats closest to the current one first (one setting changed, then two).
    for decimal, thousands in sorted(
            (f for f in _NUMBER_FORMATS if f != current),
            key=lambda f: (f[0] != current[0]) + (f[1] != current[1])):
        changes = [f"data.{key}: {value!r}" for key, value, now in (
            ("decimal", decimal, parse.text.decimal),
            ("thousands", thousands, parse.text.thousands)) if value != now]
        shown = " and ".join(c.replace("None", "null") for c in changes)
        # Only a setting under which the value is a finite number is named (1e400 reads
        # as infinity under every one: none is).
        branches.append(f"WHEN isfinite({_number_sql(parse, t, decimal, thousands)}) "
                        f"THEN {p(f'; with {shown} in params.yaml it reads as a number')}")
    # A number too large for a double (1e400) reads under the current settings, as
    # infinity: say so rather than name a setting.
    current_value = _number_sql(parse, t, *current)
    huge = p("; it reads as a number too large to hold (beyond 1.8e308 either way)")
    return (f"CASE WHEN {current_value} IS NOT NULL AND NOT isfinite({current_value}) "
            f"THEN {huge} {' '.join(branches)} ELSE '' END")


def _strptime_sql(parse: _Parse, t: str, fmt: str) -> str:
    parsed = f"try_strptime({t}, {parse.p(fmt)})"
    if fmt.endswith("%z"):  # strptime applies +99:00 too
        offset = f"regexp_extract({t}, {parse.p(_END_OFFSET)}, 1)"
        parsed = (f"CASE WHEN {offset} = '' OR regexp_full_match({offset}, "
                  f"{parse.p(_OFFSET)}) THEN {parsed} END")
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', {parsed})"
    return _local_to_utc(parse, parsed)


def _local_to_utc(parse: _Parse, naive: str) -> str:
    if parse.text.timezone == "UTC":
        return naive
    return f"timezone('UTC', timezone({parse.p(parse.text.timezone)}, {naive}))"


def _iso_sql(parse: _Parse, t: str) -> str:
    # TRY_CAST alone accepts 'epoch', 'infinity', '1_000' and drops offsets
    # when casting to TIMESTAMP: the pattern admits ISO 8601 only, and
    # strings with an offset go through TIMESTAMPTZ, which applies it.
    has_offset = (f"(suffix({t}, 'Z') OR contains(substr({t}, 12), '+') "
                  f"OR contains(substr({t}, 12), '-'))")
    return (f"CASE WHEN NOT regexp_full_match({t}, {parse.p(_ISO_PATTERN)}) THEN NULL "
            f"WHEN {has_offset} THEN timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ)) "
            f"ELSE {_local_to_utc(parse, f'TRY_CAST({t} AS TIMESTAMP)')} END")


def _date_part(fmt: str) -> str | None:
    """The date directives of a strptime format ('%d/%m/%Y %H:%M' -> '%d/%m/%Y')."""
    match = re.search(r"%[HIMSpfzZTRX]", fmt)
    if match is None:
        return None
    head = fmt[: match.start()].rstrip(" T,;-_:/")
    return head if re.search(r"%[dmyYbBjeF]", head) else None


def _timestamp(parse: _Parse, column: str, *, lenient: bool = False) -> tuple[str, str]:
    """Register text and value (naive UTC) of a timestamp column."""
    t = parse.text_of(column)
    raw_type = parse.raw_type(column)
    fmt = parse.text.timestamp_format
    unit = parse.text.timestamp_unit
    if raw_type in AWARE_TIME_TYPES:
        value = f"timezone('UTC', CAST({parse.raw_of(column)} AS TIMESTAMPTZ))"
    elif raw_type in NAIVE_TIME_TYPES:
        value = _local_to_utc(parse, f"CAST({parse.raw_of(column)} AS TIMESTAMP)")
    elif unit is not None and _family(raw_type or "") in ("integer", "fractional"):
        value = _epoch_sql(parse.raw_of(column), _family(raw_type or ""), unit)
    elif fmt is None:
        value = _iso_sql(parse, t)
    elif not lenient:
        value = _strptime_sql(parse, t, fmt)
    else:
        candidates = [_strptime_sql(parse, t, fmt)]
        date_fmt = _date_part(fmt)
        if date_fmt is not None:
            candidates.append(_strptime_sql(parse, t, date_fmt))
        candidates.append(_iso_sql(parse, t))
        value = f"coalesce({', '.join(candidates)})"
    if unit is not None and raw_type in (None, "VARCHAR"):
        # Whole numbers written as text are epochs in data.timestamp_unit.
        epoch = _epoch_sql(t, "integer", unit)
        value = (f"CASE WHEN regexp_full_match({t}, '[+-]?[0-9]{{1,20}}') THEN {epoch} "
                 f"ELSE {value} END")
    parse.values[f"v_{column}"] = value
    return t, f"v_{column}"


def _expected_timestamp(text: TextFormat, *, lenient: bool = False) -> str:
    if text.timestamp_format is None:
        return (f"is not a valid {_ISO_TEXT}; if the file uses another format, set "
                f"data.timestamp_format in params.yaml")
    if lenient:
        return (f"matches neither data.timestamp_format {text.timestamp_format!r} (or its date "
                f"part) nor ISO 8601")
    return f"does not match data.timestamp_format {text.timestamp_format!r}"


# Formats tried on a timestamp that does not parse, to name the one the file seems to use.
_TIMESTAMP_FORMATS = tuple(
    f"{date}{time}"
    for date in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d")
    for time in (" %H:%M:%S", " %H:%M", ""))


def _timestamp_hint(parse: _Parse, t: str) -> str:
    """SQL for a hint ending a reason: the strptime formats that read ``t``, or ''."""
    p = parse.p
    matches = ", ".join(
        f"CASE WHEN try_strptime({t}, {p(fmt)}) IS NOT NULL THEN {p(repr(fmt))} END"
        for fmt in _TIMESTAMP_FORMATS if fmt != parse.text.timestamp_format)
    epoch = ("; it looks like a Unix epoch number: set data.timestamp_unit ('s', 'ms', 'us' "
             "or 'ns') in params.yaml if it is one, or export timestamps as ISO 8601 text")
    with_z = (parse.text.timestamp_format or "").endswith("%z")
    offset = f"regexp_extract({t}, {p(_END_OFFSET if with_z else _ANY_OFFSET)}, 1)"
    bad_offset = (f"'; its UTC offset ' || {offset} || ' cannot be: offsets run from -14:00 "
                  f"to +14:00, their minutes from 00 to 59'")
    hour_24 = ("; hour 24 is not read: the hours of a day run 00 to 23 (write 00:00 of the "
               "next day)")
    return (f"CASE WHEN {offset} <> '' AND NOT regexp_full_match({offset}, {p(_OFFSET)}) "
            f"THEN {bad_offset} "
            f"WHEN regexp_matches({t}, {p(r'^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]24:')}) "
            f"THEN {p(hour_24)} "
            f"WHEN regexp_full_match({t}, {p(r'[0-9]{9,13}([.][0-9]+)?')}) "
            f"THEN {p(epoch)} ELSE coalesce({p('; it matches data.timestamp_format ')} "
            f"|| nullif(concat_ws(' or ', {matches}), ''), '') END")
