"""The Parquet sink: a dataset partitioned by ``as_of``, and the swap of a partition folder.

Layout: ``<root>/as_of=YYYY-MM-DD/part-0.parquet`` (hive style), every column of
:data:`features.schema.CUSTOMER_SCORES` but ``as_of``, whose value is the
folder's name. A partition is replaced whole: one file with a temporary file and
``os.replace``; a folder of several parts (written by Spark) with
:func:`replace_folder`, which swaps two folders in one step where the system
can. :func:`read_parquet_scores` reads the dataset back in the declared columns
and types.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.schema import CUSTOMER_SCORES
from pipeline.errors import SinkError
from pipeline.io import remove_leftovers, temporary_name
from pipeline.sinks.base import Staged, _check_date, _fsync, validate_scores, write_staged

#: The one file of a Parquet partition (a fixed name, so that os.replace swaps it whole).
PARQUET_FILE = "part-0.parquet"


@dataclass(frozen=True)
class ParquetSink:
    """A Parquet dataset partitioned by ``as_of``, one file per date.

    Layout: ``<root>/as_of=YYYY-MM-DD/part-0.parquet`` (hive style). The file holds
    every column but ``as_of``, whose value is the folder's name: so that one value
    cannot disagree with the other, and so that both readers below merge the
    partitions without a type conflict. A write goes to a hidden temporary file
    in the partition folder (``.part-0.parquet.<pid>-<hex>.tmp``, which no
    ``*.parquet`` glob matches), is flushed to disk (:meth:`stage`) and moved onto
    ``part-0.parquet`` with ``os.replace`` (the staged write's ``publish``);
    temporaries left by a killed earlier write are removed. One
    writer per date at a time. A partition written by the Spark engine holds
    several parts (``part-NNNNN.parquet``); such a folder is replaced as a whole
    (:func:`replace_folder`), by Spark's writes (:func:`replace_partition`) and by
    this one alike.

    Reading it back:

    * DuckDB: ``SELECT * FROM read_parquet('<root>/*/*.parquet',
      hive_partitioning = true)`` gives ``as_of`` as ``DATE`` (last column).
    * pandas: :func:`read_parquet_scores` gives the declared columns in order with
      ``as_of`` as ``datetime.date`` values. Plain ``pandas.read_parquet(root)``
      cannot know the partition's type and returns ``as_of`` as a categorical of
      ISO strings; pass ``partitioning=PARQUET_PARTITIONING`` to get dates.
    """

    root: Path
    name: str = field(default="parquet", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def partition(self, as_of: dt.date) -> Path:
        """The folder of one scoring date."""
        return self.root / f"as_of={as_of.isoformat()}"

    def write(self, scores: pd.DataFrame, as_of: dt.date, *, beyond_data: bool = False) -> str:
        """Replace the partition of ``as_of`` with ``scores``; return the file's path.

        See :func:`validate_scores` for the frame's contract and the errors raised.
        """
        return write_staged(self.stage(scores, as_of, beyond_data=beyond_data))

    def stage(self, scores: pd.DataFrame, as_of: dt.date, *,
              beyond_data: bool = False) -> Staged:
        """Write the partition of ``as_of`` out of the readers' sight (a hidden file in
        the partition, or a hidden folder beside the dataset when the partition holds
        several parts); publishing moves it into place.

        Raises
        ------
        SinkError
            Naming the folder, when it cannot be written (read-only, full).
        """
        data = validate_scores(scores, as_of).drop_columns(["as_of"])
        dest = self.partition(as_of) / PARQUET_FILE
        try:
            self._sweep()
            if dest.parent.is_dir() and any(p.name != PARQUET_FILE
                                            for p in dest.parent.glob("*.parquet")):
                staging = _staging_folder(dest.parent)
                try:
                    pq.write_table(data, staging / PARQUET_FILE, compression="zstd")
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                return _StagedFolder(staging, dest.parent, str(dest))
            created = not dest.parent.is_dir()
            dest.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(dest.parent, PARQUET_FILE)
            tmp = dest.with_name(temporary_name(PARQUET_FILE))
            try:
                pq.write_table(data, tmp, compression="zstd")
                _fsync(tmp)
            except BaseException:
                _StagedFile(tmp, dest, created).discard()
                raise
            return _StagedFile(tmp, dest, created)
        except OSError as err:
            raise _unwritable(dest.parent, err) from None

    def _sweep(self) -> None:
        """Remove the partition folders that a killed write of a new date left: only
        its temporary file inside, its process gone."""
        if not self.root.is_dir():
            return
        for folder in self.root.glob("as_of=*"):
            if folder.is_dir() and not any(folder.glob("*.parquet")):
                remove_leftovers(folder, PARQUET_FILE)
                with contextlib.suppress(OSError):  # not empty: not a leftover
                    folder.rmdir()

    def stage_folder(self, folder: Path, as_of: dt.date) -> Staged:
        """Stage the Parquet files of ``folder`` (scored rows without ``as_of``) as the
        partition of ``as_of``: hard-linked (copied across file systems) into a hidden
        folder beside the dataset; ``folder`` is left as it is."""
        dest = self.partition(as_of)
        try:
            self._sweep()
            staging = _staging_folder(dest)
            staging.rmdir()
            try:
                shutil.copytree(folder, staging, copy_function=_link_or_copy,
                                ignore=shutil.ignore_patterns("_SUCCESS", ".*"))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        except OSError as err:
            raise _unwritable(dest, err) from None
        return _StagedFolder(staging, dest, str(dest))


def _unwritable(path: Path, err: OSError) -> SinkError:
    return SinkError(f"cannot write the Parquet scores in {path}: "
                     f"{err.strerror or err} ({err.filename or path}). Make "
                     f"the folder writable (or free space), then score again; no store shows "
                     f"the new date")


@dataclass
class _StagedFile:
    """A complete partition file under a hidden name in its partition folder."""

    tmp: Path
    dest: Path
    created: bool  # the partition folder was made for it

    @property
    def where(self) -> str:
        return str(self.dest)

    def publish(self) -> None:
        try:
            os.replace(self.tmp, self.dest)
            _fsync(self.dest.parent)
            _fsync(self.dest.parent.parent)
        except OSError as err:
            raise _unwritable(self.dest.parent, err) from None

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
        if self.created:
            with contextlib.suppress(OSError):  # not empty: another writer's, keep it
                self.dest.parent.rmdir()


@dataclass
class _StagedFolder:
    """A complete partition folder under a hidden name beside the dataset."""

    staging: Path
    dest: Path
    where: str

    def publish(self) -> None:
        try:
            replace_folder(self.staging, self.dest)
        except OSError as err:
            raise _unwritable(self.dest, err) from None

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _staging_folder(dest: Path) -> Path:
    """A new hidden folder beside the dataset's root (on its file system, out of its globs);
    those that killed runs left for the same partition are removed first."""
    root = dest.parent
    root.parent.mkdir(parents=True, exist_ok=True)
    name = f"{root.name}.{dest.name}"
    remove_leftovers(root.parent, name)
    staging = root.parent / temporary_name(name)
    staging.mkdir()
    return staging


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15)
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                     _RENAME_EXCHANGE) == 0


def replace_folder(new: Path, dest: Path) -> None:
    """Put the folder ``new`` in the place of ``dest`` (same file system); ``new`` is gone after.

    Where ``dest`` exists, the two are swapped in one step (``renameat2`` with
    ``RENAME_EXCHANGE``): readers see the old files or the new ones, never a mix and
    never nothing. Where the system cannot swap, ``dest`` is moved aside and ``new``
    moved in, two renames with an instant in between where the folder is absent.
    """
    for path in [*new.iterdir(), new]:
        _fsync(path)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, dest)
    elif _exchange(new, dest):
        shutil.rmtree(new)  # now holds the old files
    else:
        old = new.with_name(new.name + ".old")
        os.replace(dest, old)
        os.replace(new, dest)
        shutil.rmtree(old)
    _fsync(dest.parent)


def replace_partition(sink: ParquetSink, as_of: dt.date, folder: Path) -> str:
    """Make the Parquet files of ``folder`` the partition of ``as_of`` in ``sink``.

    ``folder`` holds the scored rows without ``as_of`` (the folder's name gives it),
    as written by Spark; it is left as it is: its files are hard-linked (copied
    across file systems) into a staging folder, which replaces the partition with
    :func:`replace_folder`. Returns the partition's path.
    """
    return write_staged(sink.stage_folder(folder, as_of))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


#: Partitioning of the Parquet sink's dataset, with ``as_of`` typed as a date; pass it
#: to ``pandas.read_parquet`` / ``pyarrow.dataset.dataset`` as ``partitioning=``.
PARQUET_PARTITIONING = ds.partitioning(pa.schema([pa.field("as_of", pa.date32())]),
                                       flavor="hive")


def read_parquet_scores(root: str | os.PathLike[str],
                        as_of: dt.date | None = None) -> pd.DataFrame:
    """Read the Parquet sink's dataset back into the declared columns and types.

    Parameters
    ----------
    root : path
        The dataset folder given to :class:`ParquetSink`.
    as_of : datetime.date, optional
        Read only this date (only its partition is opened).

    Returns
    -------
    pandas.DataFrame
        The columns of ``CUSTOMER_SCORES`` in declared order, ``as_of`` as
        ``datetime.date`` values; no rows when nothing was written yet.
    """
    if as_of is not None:
        _check_date(as_of)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no Parquet scores at {root}: write some with ParquetSink first")
    schema = CUSTOMER_SCORES.arrow_schema()
    dataset = ds.dataset(root, format="parquet", partitioning=PARQUET_PARTITIONING,
                         schema=schema)
    where = None if as_of is None else ds.field("as_of") == pa.scalar(as_of, pa.date32())
    return dataset.to_table(columns=schema.names, filter=where).to_pandas()
