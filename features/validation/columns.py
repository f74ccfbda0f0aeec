"""Column mapping: which column of a file holds each contract column.

The file's header names are matched (trimmed) against the contract columns of
:data:`features.schema.INPUT_TABLES`, renamed through ``data.columns.<table>``
in params. A required column that is absent raises an :class:`InputError`
naming the close matches in the header, or the delimiter that the header seems
to use.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from features.errors import InputError
from features.schema import INPUT_TABLES

_DELIMITER_CANDIDATES = (",", ";", "\t", "|")


def _delimiter_hint(header_line: str, fields: list[str], delimiter: str,
                    wanted: list[str]) -> str | None:
    """A message when the header splits better on another delimiter."""
    for candidate in _DELIMITER_CANDIDATES:
        if candidate == delimiter or candidate not in header_line:
            continue
        split = [f.strip().strip('"') for f in header_line.split(candidate)]
        if (len(fields) == 1 and len(split) > 1) or any(w in split for w in wanted):
            shown = "\\t" if candidate == "\t" else candidate
            return (f"the file looks {shown!r}-delimited: set data.delimiter: {shown!r} in "
                    f"params.yaml (with data.delimiter {delimiter!r} the header reads as "
                    f"{len(fields)} column(s): {fields[:5]})")
    return None


def _resolve_columns(table: str, display: str, names: list[str], column_map: Mapping[str, str],
                     header_line: str | None, delimiter: str,
                     listing: str = "the header") -> dict[str, int]:
    """Position in the file of each contract column present; raise for required ones absent
    and for a contract column given twice (``listing`` says where: a CSV header, a Parquet
    file's columns)."""
    contract = INPUT_TABLES[table]
    unknown = sorted(set(column_map) - set(contract.names))
    if unknown:
        raise InputError(
            f"data.columns.{table} in params.yaml has keys {unknown} that are not columns of "
            f"the {table} contract; the keys must be among {contract.names} (each mapped to "
            f"the column's name in {display})."
        )
    stripped = [n.strip() for n in names]
    positions: dict[str, int] = {}
    missing: list[tuple[str, str]] = []
    for column in contract.columns:
        wanted = column_map.get(column.name, column.name).strip()
        found = [i for i, n in enumerate(stripped) if n == wanted]
        if len(found) > 1:
            raise InputError(
                f"{display}: column {wanted!r} appears {len(found)} times in {listing}; "
                f"rename the copies in the file or map {table}.{column.name} to another "
                f"column with data.columns.{table}.{column.name} in params.yaml."
            )
        if found:
            positions[column.name] = found[0]
        elif column.required or column.name in column_map:
            missing.append((column.name, wanted))
    if missing:
        if header_line is not None:
            hint = _delimiter_hint(header_line, names, delimiter, [w for _, w in missing])
            if hint:
                raise InputError(f"{display}: {hint}.")
        name, wanted = missing[0]
        raise InputError(_missing_column_message(table, display, name, wanted, stripped,
                                                 mapped=name in column_map))
    return positions


def _missing_column_message(table: str, display: str, name: str, wanted: str,
                            header: list[str], *, mapped: bool) -> str:
    lowered = {h.lower(): h for h in header}
    close = [lowered[m] for m in difflib.get_close_matches(wanted.lower(), list(lowered),
                                                           n=3, cutoff=0.5)]
    source = (f"set by data.columns.{table}.{name}" if mapped
              else f"the {table} contract column; its name in the file is set by "
                   f"data.columns.{table}.{name}")
    shown = ", ".join(repr(h) for h in header[:30]) + (", ..." if len(header) > 30 else "")
    suggestion = close[0] if close else "<its name in the file>"
    return (
        f"{display}: column {wanted!r} not found ({source}). The header has: {shown}. "
        f"Close matches: {', '.join(repr(c) for c in close) if close else 'none'}. "
        f"Set data.columns.{table}.{name}: {suggestion} in params.yaml."
    )


def _check_part_columns(table: str, display: str, part: str, names: list[str],
                        column_map: Mapping[str, str]) -> None:
    """Raise unless one file of a Parquet input holds each contract column at most once and
    every required (or mapped) one: read together, a second ``amount`` would be renamed and
    dropped, a part without ``amount`` read as empty amounts."""
    contract = INPUT_TABLES[table]
    stripped = [n.strip() for n in names]
    folder = "" if part == display else f" (a part of {display})"
    for column in contract.columns:
        wanted = column_map.get(column.name, column.name).strip()
        count = stripped.count(wanted)
        if count > 1:
            raise InputError(
                f"{part}{folder}: column {wanted!r} appears {count} times in its columns; "
                f"rename the copies in the file or map {table}.{column.name} to another "
                f"column with data.columns.{table}.{column.name} in params.yaml."
            )
        if not count and folder and (column.required or column.name in column_map):
            shown = ", ".join(repr(n) for n in names[:30]) + (", ..." if len(names) > 30 else "")
            raise InputError(
                f"{part}{folder}: column {wanted!r} not found in this part, although other "
                f"parts hold it; its columns are: {shown}. Every part of a Parquet folder "
                f"must hold the required columns of the {table} contract: export the part "
                f"again with {wanted!r}, or move it out of the folder."
            )
