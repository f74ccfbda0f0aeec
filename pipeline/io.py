"""Atomic writes: a crash never leaves a half-written output behind.

Every file or folder is first written beside its destination under a hidden
temporary name, then moved into place with :func:`os.replace`, which is atomic
on POSIX file systems. Readers see the previous complete output or the new
complete one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it onto ``dest`` if the block succeeds.

    With ``directory=True`` the temporary path is an empty folder and ``dest``
    is replaced as a whole (the old folder is removed after the swap).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique name created exclusively, with the usual permissions (the umask's, not
    # the owner-only ones of tempfile.mkstemp): readers of the output are often others.
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    if directory:
        tmp.mkdir(mode=0o777)
    else:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if directory:
            old = None
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
                os.replace(dest, old)
            os.replace(tmp, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_parquet(table: pa.Table, dest: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write an Arrow table to ``dest`` atomically (zstd-compressed Parquet)."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, **kwargs)
    return Path(dest)


def write_json(obj: Any, dest: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n",
                       encoding="utf-8")
    return Path(dest)


def write_text(text: str, dest: str | os.PathLike[str]) -> Path:
    """Write text to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dest)
