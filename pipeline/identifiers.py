"""SQL names the pipeline creates (tables, views, schemas): plain lower-case identifiers,
checked where params name them and where the sinks create them."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if it is a plain lower-case SQL identifier, else raise ``ValueError``.

    Table, view and schema names are still quoted by the database driver when
    they are put in SQL; this check keeps them portable (no quoting needed by the
    analysts who query them) and within PostgreSQL's 63 characters.
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} is not a plain SQL identifier: use lower-case letters, "
            f"digits and underscores, not starting with a digit, at most 63 characters"
        )
    return name
