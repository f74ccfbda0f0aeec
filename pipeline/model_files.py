"""The files of a registered model and their checksums.

When ``evaluate`` registers a version of the scorer, the SHA-256 of every file of
the logged model (``MLmodel``, ``python_model.pkl``, the bundle's boosters, JSON
and joblib files) is recorded in the registry, as the version's tag
:data:`CHECKSUM_TAG`. Before ``score`` hands any of them to MLflow, pickle or
LightGBM (whose C++ side aborts the process on some damaged model files), the
files of the copy it downloaded are checked against that record: a missing,
truncated or overwritten file stops the job with
:class:`pipeline.errors.ModelUnavailableError` naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from pipeline.errors import ModelUnavailableError

#: The model version tag with the files' checksums: JSON ``{"<relative path>": "<sha256>"}``.
CHECKSUM_TAG = "file_sha256"
#: Files MLflow writes into a copy of a registered model when it downloads one (the
#: name and version of the copy): not the model's, not recorded.
UNRECORDED = frozenset({"registered_model_meta"})
_BLOCK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folder`` but :data:`UNRECORDED`, by path
    relative to it (``/``-separated)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {file.relative_to(folder).as_posix(): _sha256(file) for file in files
            if file.relative_to(folder).as_posix() not in UNRECORDED}


def encode(sums: Mapping[str, str]) -> str:
    """The tag value of :func:`checksums`."""
    return json.dumps(dict(sums), sort_keys=True, separators=(",", ":"))


def decode(text: str, what: str) -> dict[str, str]:
    """The checksums of a tag value written by :func:`encode`.

    Raises
    ------
    ModelUnavailableError
        When the tag is not such a value (edited by hand, cut).
    """
    try:
        sums = json.loads(text)
    except ValueError:
        sums = None
    if not isinstance(sums, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in sums.items()):
        raise ModelUnavailableError(
            f"{what}: the registry's tag {CHECKSUM_TAG} is not the record of the model's "
            f"files written at registration; register the model again (`dvc repro evaluate`)")
    return sums


def check(folder: Path, recorded: Mapping[str, str], what: str) -> None:
    """Check the files under ``folder`` against the checksums recorded at registration.

    Files that are not in the record are not read by this check (a newer MLflow may
    add some); every recorded file must be there with its recorded content.

    Raises
    ------
    ModelUnavailableError
        Naming every missing file and every file whose content changed (truncated,
        overwritten) since ``what`` was registered.
    """
    missing = [name for name in sorted(recorded) if not (folder / name).is_file()]
    changed = [name for name in sorted(recorded)
               if name not in missing and _sha256(folder / name) != recorded[name]]
    if not missing and not changed:
        return
    if len(missing) == len(recorded):
        raise ModelUnavailableError(
            f"{what}: none of the {len(recorded)} files registered is in the artifact store "
            f"(the model's artifacts were deleted or moved). Restore them, register the "
            f"model again (`dvc repro evaluate`), or score with another version "
            f"(--model-uri models:/<name>/<version>)")
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"changed since registration (truncated or overwritten) {', '.join(changed)}"]
        if changed else [])
    raise ModelUnavailableError(
        f"{what}: the model's files are not those registered: {'; '.join(problems)}. "
        f"Restore the artifact store, register the model again (`dvc repro evaluate`), or "
        f"score with another version (--model-uri models:/<name>/<version>)")


def check_unrecorded(folder: Path, what: str) -> None:
    """The check of a model without recorded checksums: every LightGBM model text under
    ``folder`` (a file that starts ``tree`` / ``version=``) is whole, its trees ending
    with LightGBM's ``end of trees`` line; a cut one would abort the process in
    LightGBM's parser rather than raise.

    Raises
    ------
    ModelUnavailableError
        Naming the LightGBM files that are cut short.
    """
    cut = []
    for file in sorted(p for p in folder.rglob("*.txt") if p.is_file()):
        with file.open("rb") as handle:
            head = handle.read(16)
        if head.startswith(b"tree\nversion=") and b"\nend of trees\n" not in file.read_bytes():
            cut.append(file.relative_to(folder).as_posix())
    if cut:
        raise ModelUnavailableError(
            f"{what}: LightGBM model files cut short (no 'end of trees' line): "
            f"{', '.join(cut)}. Restore the artifact store, register the model again "
            f"(`dvc repro evaluate`), or score with another version "
            f"(--model-uri models:/<name>/<version>)")
