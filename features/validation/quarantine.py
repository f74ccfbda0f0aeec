"""The quarantine: every input row that is not used, with the rule it broke.

``_v_quarantine`` has the columns of :data:`features.schema.QUARANTINE`: the
table, the source file and line, the rule id and its reason, and the raw row as
a JSON object keyed by the raw column names (``{"line": ...}`` holding the text
of a malformed CSV line).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from features.schema import QUARANTINE
from features.validation.sources import _Source
from features.validation.sql import _Params, _q, _run


def _build_quarantine(con: duckdb.DuckDBPyConnection, sources: Mapping[str, _Source]) -> None:
    columns = ", ".join(f"{_q(c.name)} {c.duckdb_type}" for c in QUARANTINE.columns)
    _run(con, f"CREATE OR REPLACE TABLE _v_quarantine ({columns})")
    for source in sources.values():
        p = _Params()
        pairs = ", ".join(f"{p(key)}, CAST(r.c{i} AS VARCHAR)" for i, key in enumerate(source.keys))
        _run(con, f"""
            INSERT INTO _v_quarantine
            SELECT {p(source.table)}, v.__file, v.__line, v.__rule, v.__reason,
                   CAST(json_object({pairs}) AS VARCHAR)
            FROM {source.rows} v JOIN {source.raw} r ON v.__rid = r.rowid
            WHERE v.__rule IS NOT NULL
        """, p)
        p = _Params()
        _run(con, f"""
            INSERT INTO _v_quarantine
            SELECT {p(source.table)}, {p(source.display)}, source_line, {p('malformed_line')},
                   {p('malformed CSV line (')} || error_type || {p(': ')} || error_message
                   || {p(f'; read with data.delimiter {source.delimiter!r})')},
                   CAST(json_object({p('line')}, line_text) AS VARCHAR)
            FROM {source.bad}
        """, p)
