"""Atomic writes: a crash never leaves a half-written output behind.

Every file or folder is first written beside its destination under a hidden
temporary name, then moved into place with :func:`os.replace`, which is atomic
on POSIX file systems. Readers see the previous complete output or the new
complete one.

A temporary name carries the id of the process that made it
(``.<name>.<pid>-<hex>.tmp``), so that what a killed run left behind is known
for what it is: the next write of the same output removes the temporaries of
processes that no longer run (:func:`remove_leftovers`), and
:func:`temporary_directory` does the same for the scratch folders of a stage. A
folder that cannot be written (read-only, full, not a folder) stops the write with
:class:`pipeline.errors.OutputError` naming the path, before the destination
changes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import InputError
from pipeline.errors import OutputError

#: Errors of a write that say the destination cannot take it, whatever wrote the bytes.
_FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
#: ``<pid>-<random>`` in a temporary name (a uuid's hex, or the letters of
#: :mod:`tempfile`); the hex alone in the names of earlier versions.
_OWNER = re.compile(r"(?:(?P<pid>\d+)-)?[0-9a-z_]{8,32}")


def temporary_name(name: str, suffix: str = "tmp") -> str:
    """A hidden name for a temporary of ``name``: ``.<name>.<pid>-<hex>.<suffix>``."""
    return f".{name}.{os.getpid()}-{uuid.uuid4().hex}.{suffix}"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def remove_leftovers(folder: Path, name: str) -> list[Path]:
    """Remove the temporaries of ``name`` in ``folder`` that a killed run left behind.

    A temporary is ``.<name>.<pid>-<hex>.tmp`` (or ``.old``, a replaced folder not yet
    deleted); it is a leftover when process ``pid`` no longer runs (the names of
    earlier versions, without a pid, always are). Returns what was removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    prefix = f".{name}."
    for path in folder.iterdir():
        if not path.name.startswith(prefix):
            continue
        stem, _, suffix = path.name[len(prefix):].rpartition(".")
        owner = _OWNER.fullmatch(stem)
        if stem == "old" and suffix.isdigit():  # ``.<name>.old.<pid>`` of earlier versions
            pid = int(suffix)
        elif suffix in ("tmp", "old") and owner is not None:
            pid = int(owner["pid"]) if owner["pid"] is not None else None
        else:
            continue
        if pid is not None and _running(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _output_error(path: Path, err: OSError) -> OutputError:
    reason = err.strerror or type(err).__name__
    return OutputError(f"cannot write {path}: {reason} ({err.filename or path}). Free space "
                       f"or make the folder writable, then run the stage again; the previous "
                       f"output is unchanged")


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it onto ``dest`` if the block succeeds.

    With ``directory=True`` the temporary path is an empty folder and ``dest``
    is replaced as a whole (the old folder is removed after the swap). The
    temporaries of ``dest`` that killed runs left are removed first.

    Raises
    ------
    OutputError
        Naming ``dest``, when its folder cannot be written (read-only, full, a file
        in the way), including a write of the block that ran out of space.
    """
    dest = Path(dest)
    # A unique name created exclusively, with the usual permissions (the umask's, not
    # the owner-only ones of tempfile.mkstemp): readers of the output are often others.
    tmp = dest.with_name(temporary_name(dest.name))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(dest.parent, dest.name)
        if directory:
            tmp.mkdir(mode=0o777)
        else:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as err:
        raise _output_error(dest, err) from None
    try:
        try:
            yield tmp
        except OSError as err:
            if err.errno in _FULL_OR_READ_ONLY:
                raise _output_error(dest, err) from None
            raise
        try:
            if directory:
                old = None
                if dest.exists():
                    old = dest.with_name(temporary_name(dest.name, "old"))
                    os.replace(dest, old)
                os.replace(tmp, dest)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        except OSError as err:
            raise _output_error(dest, err) from None
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def temporary_directory(prefix: str, where: str | os.PathLike[str]
                        ) -> tempfile.TemporaryDirectory:
    """A scratch folder ``<where>/.<prefix>.<pid>-<random>.tmp`` (a
    :class:`tempfile.TemporaryDirectory`: removed by ``cleanup()`` or at the end of a
    ``with`` block); the scratch folders of ``prefix`` that killed runs left in
    ``where`` are removed first.

    Raises
    ------
    OutputError
        Naming ``where``, when the folder cannot be made there.
    """
    where = Path(where)
    try:
        where.mkdir(parents=True, exist_ok=True)
        remove_leftovers(where, prefix)
        return tempfile.TemporaryDirectory(prefix=f".{prefix}.{os.getpid()}-", suffix=".tmp",
                                           dir=where)
    except OSError as err:
        raise _output_error(where, err) from None


def check_writable(*folders: str | os.PathLike[str]) -> None:
    """Check that a file can be made in each folder (made if missing), before any work.

    Raises
    ------
    OutputError
        Naming the first folder that cannot be written.
    """
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise _output_error(folder, err) from None


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


def check_intermediate(path: Path, stage: str) -> None:
    """Check that ``path``, a Parquet output of ``stage``, is there and whole (its footer
    reads), before any work reads it.

    Raises
    ------
    InputError
        Naming the file and the stage to run again.
    """
    try:
        pq.read_metadata(path)
    except FileNotFoundError:
        raise InputError(f"{path} is missing: run `churn {stage}` (or `dvc repro {stage}`) "
                         "first") from None
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path} is not a whole Parquet file ({err}): the output of "
                         f"`{stage}` is damaged (truncated or overwritten); run `churn {stage}` "
                         f"(or `dvc repro -f {stage}`) again") from None
