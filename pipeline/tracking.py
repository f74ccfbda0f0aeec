"""MLflow: the run of each training, its datasets and metrics, the registry and aliases.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///mlflow.db``
in the project directory (:func:`pipeline.config.tracking_uri`). One experiment
holds every run of the pipeline. ``train`` opens a run and logs params, tags,
datasets and validation metrics; ``evaluate`` continues the same run with the
test metrics and plots, logs the model bundle, registers it and moves the
aliases, and records the checksum of every file of the registered model
(:mod:`pipeline.model_files`), which loading checks before it reads any of them.

One piece: every MLflow call of the project is here (the architecture allows the
import nowhere else), so that a change of MLflow's API is a change of this module.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.types import ColSpec, Schema

from pipeline import model_files
from pipeline.errors import ModelUnavailableError, TrackingStoreError
from pipeline.params import Params
from pipeline.paths import PARAMS_FILE, ROOT, Paths
from pipeline.secrets import mask_secrets, mask_value

log = logging.getLogger("churn")

CHALLENGER, CHAMPION = "challenger", "champion"

#: How long MLflow's HTTP client tries a tracking server before it gives up. MLflow's
#: own defaults (7 retries, a backoff that doubles up to 2 minutes, 120 s per request)
#: keep a batch job waiting over 4 minutes for a server that is down; with these, a
#: refused connection fails after about 10 s, a server that accepts but never answers
#: after about 2 minutes (4 tries of 30 s). Variables already set in the environment win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",  # 4 tries in all
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # waits of 0, 2 and 4 s between them
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # seconds without an answer, per try
}

#: An MLflow error for a request that got no usable answer (no connection, a timeout,
#: server errors after the retries), and the cause urllib3 gives in it.
_REQUEST_FAILED = re.compile(r"API request to .* failed with (exception|error code)")
_REQUEST_CAUSE = re.compile(r"\(Caused by \w+\([\"']?(?:[^:]*\):\s*)?(.*?)[\"']?\)\)\s*$")


def tracking_uri() -> str:
    """MLflow tracking URI: ``MLFLOW_TRACKING_URI`` if set, else the SQLite store
    ``mlflow.db`` in the project directory (``CHURN_PROJECT_DIR``, else the working
    directory, as for every other path)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}"


def configure(params: Params) -> str:
    """Point MLflow at the tracking store and the pipeline's experiment; return its id.

    Raises
    ------
    TrackingStoreError
        Naming the store (password masked) and the cause, when the store does not
        answer within the bounds of :data:`HTTP_DEFAULTS` or refuses the experiment.
    """
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Progress bars of artifact transfers fill batch logs; a user can still turn them on.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(tracking_uri())
    try:
        return mlflow.set_experiment(params.train.experiment).experiment_id
    except MlflowException as err:
        what = "cannot reach" if request_failed(err) else "cannot use"
        raise TrackingStoreError(
            f"{what} the MLflow tracking store {masked_tracking_uri()} ({error_reason(err)}). "
            "Start the tracking server, or point MLFLOW_TRACKING_URI at a running one "
            "(MLFLOW_HTTP_REQUEST_MAX_RETRIES and MLFLOW_HTTP_REQUEST_TIMEOUT set how long "
            "to try)") from None


def request_failed(err: BaseException) -> bool:
    """Whether an MLflow error is a request to the tracking server that got no usable
    answer (refused, timed out, unknown host, server errors after the retries)."""
    return bool(_REQUEST_FAILED.search(str(err)))


def error_reason(err: BaseException) -> str:
    """An MLflow error in one line without a password: the cause urllib3 gives for a
    request that could not be sent ("Failed to establish a new connection: [Errno 111]
    Connection refused", "Read timed out. (read timeout=30)"), else the first line."""
    text = str(err).strip()
    cause = _REQUEST_CAUSE.search(text)
    line = cause.group(1) if cause else (text.splitlines()[0] if text else type(err).__name__)
    return mask_secrets(line)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def redact(values: Mapping[str, Any]) -> dict[str, str]:
    """Values as MLflow params or tags: text of at most 500 characters, with the value
    of a key that names a secret (``...password``, ``...token``, ...) as ``***`` and
    no password left in a URL. Everything logged to MLflow goes through here."""
    return {key: mask_value(key, value)[:500] for key, value in values.items()}


def training_params(params: Params) -> dict[str, str]:
    """The params of a training run: the ``train``, ``labels``, ``stages`` and
    ``features`` sections flattened to dotted keys (the ``score`` section, where the
    database URL is, is not logged), redacted."""
    dump = params.model_dump(by_alias=True, mode="json")
    return redact(_flatten({k: dump[k] for k in ("train", "labels", "stages", "features")}))


def run_tags() -> dict[str, str]:
    """Tags of every run: the git commit and the digest of params.yaml."""
    tags = {"pipeline": "lifecycle-churn"}
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["git_commit"] = commit
    params_file = ROOT / PARAMS_FILE
    if params_file.exists():
        tags["params_md5"] = hashlib.md5(params_file.read_bytes()).hexdigest()
    return tags


def log_training(params: Params, paths: Paths, frame: pd.DataFrame, fitted: dict[str, Any],
                 summary: dict[str, Any]) -> dict[str, str]:
    """Open the training run: params, tags, datasets, validation figures, model files."""
    configure(params)
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags({**run_tags(), "dvc_stage": "train"})
        mlflow.log_params(training_params(params))
        for split in ("train", "validation", "test"):
            rows = frame[frame["split"] == split]
            dataset = mlflow.data.from_pandas(rows, source=str(paths.labels_table),
                                              name=f"labelled snapshots ({split})",
                                              targets="defected")
            mlflow.log_input(dataset, context=split)
        metrics = {
            "validation_defection_best_iteration": summary["defection"]["best_iteration"],
            "validation_transition_best_iteration": summary["transition"]["best_iteration"],
            "validation_value_best_iteration": summary["value"]["best_iteration"],
        }
        for name, scores in summary["bgnbd_features"]["validation_stop"].items():
            for metric, value in scores.items():
                metrics[f"validation_defection_{name}_bgnbd_{metric}"] = value
        for method, value in summary["calibration"]["cv_log_loss"].items():
            metrics[f"calibration_cv_log_loss_{method}"] = value
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(paths.models), artifact_path="model_files")
        return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id}


def check_training_run(run_id: str) -> None:
    """Raise :class:`TrackingStoreError` unless the tracking store holds the training run
    ``run_id`` that evaluation continues (a replaced store, or another one, does not)."""
    try:
        mlflow.get_run(run_id)
    except MlflowException as err:
        raise TrackingStoreError(
            f"the training run {run_id} of reports/train.json is not in the MLflow tracking "
            f"store {masked_tracking_uri()} ({error_reason(err)}): the store was replaced, "
            "or the models were trained against another one. Train again (`dvc repro -f "
            "train`, or `churn train`), then evaluate") from None


def log_evaluation(params: Params, run_id: str, metrics: Mapping[str, float],
                   artifacts: list[Path]) -> None:
    """Add the test metrics and the plots to the training run."""
    configure(params)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(dict(metrics))
        for path in artifacts:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            else:
                mlflow.log_artifact(str(path))


#: MLflow column type of each Arrow dtype of the feature table. Integers are
#: ``long`` (MLflow converts int32 to it, and refuses int64 -> double), or ``double``
#: where they can be null (a JSON or CSV request carries them as floats then); dates
#: are ISO text, which the scorer parses.
_MLFLOW_TYPES = {"double": "double", "int64": "long", "int32": "long", "int16": "long",
                 "bool": "boolean", "string": "string", "date32": "string",
                 "timestamp[us]": "string"}


def input_schema(feature_schema: Mapping[str, str], nullable: Collection[str] = ()) -> Schema:
    """The signature inputs of the scorer: every feature column, each optional (a
    prospect has no recency, a customer no segment), typed from the declaration;
    integer columns in ``nullable`` are ``double``."""
    def kind(name: str, dtype: str) -> str:
        if _MLFLOW_TYPES[dtype] == "long" and name in nullable:
            return "double"
        return _MLFLOW_TYPES[dtype]

    return Schema([ColSpec(kind(name, dtype), name, required=False)
                   for name, dtype in feature_schema.items()])


def log_and_register_scorer(params: Params, run_id: str, bundle: Path, inputs: Schema,
                            example: pd.DataFrame, scored: pd.DataFrame) -> str:
    """Log the scorer bundle (pyfunc) in the run and register it; return the new version.

    ``inputs`` is the signature's input schema (:func:`input_schema`), ``example``
    a few feature rows and ``scored`` the scorer's output for them.
    """
    from models.scorer import ChurnScorer

    configure(params)
    example = scoring_example(example, inputs)
    signature = infer_signature(example, scoring_example(scored))
    signature.inputs = inputs
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="scorer",
            python_model=ChurnScorer(),
            artifacts={"scorer": str(bundle)},
            signature=signature,
            input_example=example.head(5),
            registered_model_name=params.train.registered_model,
        )
    version = str(info.registered_model_version)
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
        sums = model_files.checksums(download_model(info.model_uri, Path(tmp)))
    set_version_tag(params.train.registered_model, version, model_files.CHECKSUM_TAG,
                    model_files.encode(sums))
    return version


def scoring_example(frame: pd.DataFrame, schema: Schema | None = None) -> pd.DataFrame:
    """Rows with plain dtypes, as a JSON or CSV request carries them: ``long``
    columns of ``schema`` as int64, other numbers as float64 (integers too when
    there is no schema), everything else (dates included) as text."""
    longs = {c.name for c in schema.inputs if c.type.name == "long"} if schema else set()
    out = {}
    for name, col in frame.items():
        if name in longs:
            out[name] = col.astype("int64")
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            out[name] = col.astype("float64")
        else:
            out[name] = col.astype(object).where(col.notna(), None).map(
                lambda v: None if v is None else str(v))
    return pd.DataFrame(out, index=frame.index)


def masked_tracking_uri() -> str:
    """The tracking URI with any password replaced by ``***``."""
    return mask_secrets(tracking_uri())


def describe_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, run_id)`` of a model URI: from the registry for
    ``models:/<name>@<alias>`` and ``models:/<name>/<version>``; the URI itself as
    the name (no version, run unknown) for any other URI (a run or a folder).

    Raises
    ------
    mlflow.exceptions.MlflowException
        When the registered model, the alias or the version does not exist.
    """
    match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", uri)
    if not match:
        return uri, None, None
    name, alias, number = match.groups()
    client = MlflowClient()
    version = (client.get_model_version_by_alias(name, alias) if alias
               else client.get_model_version(name, number))
    return name, str(version.version), version.run_id


def log_scoring(params: Params, summary: Mapping[str, Any], drift: pd.DataFrame) -> str:
    """One MLflow run per scoring job: what was scored, with what, the drift table."""
    import json
    import tempfile

    configure(params)
    with mlflow.start_run(run_name=f"score {summary['as_of']}") as run:
        model = summary["model"]
        mlflow.set_tags(redact({**run_tags(), "dvc_stage": "score", "as_of": summary["as_of"],
                                "model_uri": model["uri"], "model_version": model["version"],
                                "model_run_id": model["run_id"]}))
        mlflow.log_params(redact({"as_of": summary["as_of"], "model_uri": model["uri"],
                                  "drift_threshold": summary["drift"]["threshold"],
                                  "sinks": ",".join(summary["outputs"]) or "none"}))
        metrics = {"customers": summary["customers"],
                   "value_at_risk": summary["value_at_risk"],
                   "drifted_columns": len(summary["drift"]["drifted"])}
        for key in ("max_psi", "p_defect_psi"):
            if summary["drift"][key] is not None:
                metrics[f"drift_{key}"] = summary["drift"][key]
        metrics |= {f"customers_{k}": v for k, v in summary["by_stage"].items()}
        metrics |= {f"action_{k}": v for k, v in summary["by_action"].items()}
        contacts = summary.get("contacts") or {}
        metrics |= {f"contacts_{k}": contacts[k] for k in (
            "contacts", "candidates", "expected_cost", "expected_value_saved",
            "expected_net_value", "last_contact_net_value") if contacts.get(k) is not None}
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            if len(drift):
                drift.to_csv(Path(tmp) / "drift.csv", index=False)
            (Path(tmp) / "score_summary.json").write_text(
                mask_secrets(json.dumps(dict(summary), indent=2, default=str)))
            mlflow.log_artifacts(tmp, artifact_path="scoring")
        return run.info.run_id


def alias_version(name: str, alias: str) -> str | None:
    """The version behind ``alias``, or None."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def model_aliases(name: str) -> dict[str, str] | None:
    """The aliases of a registered model and their versions; None when there is no such
    model (or the store cannot say)."""
    try:
        return dict(MlflowClient().get_registered_model(name).aliases)
    except MlflowException:
        return None


def run_metrics_of_version(name: str, version: str) -> dict[str, float]:
    """The metrics of the run that produced a registered version."""
    client = MlflowClient()
    run_id = client.get_model_version(name, version).run_id
    return dict(client.get_run(run_id).data.metrics)


def set_version_tag(name: str, version: str, key: str, value: str) -> None:
    MlflowClient().set_model_version_tag(name, version, key, value)


def version_tag(name: str, version: str, key: str) -> str | None:
    """A tag of a registered version, or None."""
    return MlflowClient().get_model_version(name, version).tags.get(key)


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, version)


def load_python_model(uri: str) -> tuple[Any, str, str | None, str | None]:
    """Load the pyfunc model behind ``uri``: ``(python_model, name, version, run_id)``;
    ``python_model`` is None for another flavour than a Python model. The files are
    read from a copy checked by :func:`download_checked`.

    Raises
    ------
    ModelUnavailableError
        As :func:`download_checked`, and when the files cannot be read as a model.
    """
    with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
        local, name, version, run_id = download_checked(uri, Path(tmp))
        try:
            pyfunc = mlflow.pyfunc.load_model(str(local))
        except Exception as err:  # any failure to read the files: the model cannot be loaded
            raise ModelUnavailableError(
                f"cannot load the model {uri}: {type(err).__name__}: "
                f"{error_reason(err).replace(f'{local}{os.sep}', '')}. "
                f"Register the model again (`dvc repro evaluate`) or pass --model-uri"
            ) from None
    try:
        python_model = pyfunc.unwrap_python_model()
    except MlflowException:
        python_model = None  # another flavour (a bare sklearn model, ...)
    return python_model, name, version, run_id or pyfunc.metadata.run_id


def download_checked(uri: str, dst: Path) -> tuple[Path, str, str | None, str | None]:
    """Copy the files of the model behind ``uri`` into ``dst`` and check them against the
    checksums recorded when the version was registered (:mod:`pipeline.model_files`);
    return ``(folder, name, version, run_id)`` as :func:`describe_model_uri`. A model
    that is not a registered version, or was registered without checksums, is not
    checked (a warning says so).

    Raises
    ------
    ModelUnavailableError
        Naming the URI and the tracking store, when the model, version or alias does
        not exist or the store cannot be reached; naming the files, when one is
        missing or damaged; and what to do about it.
    """
    try:
        name, version, run_id = describe_model_uri(uri)
        recorded = version_tag(name, version, model_files.CHECKSUM_TAG) if version else None
        local = download_model(uri, dst)
    except (MlflowException, OSError) as err:
        raise ModelUnavailableError(_unavailable(uri, err)) from None
    what = f"the model {uri}" + (f" (version {version} of {name})" if version else "")
    if recorded is not None:
        model_files.check(local, model_files.decode(recorded, what), what)
    else:
        log.warning("%s has no checksums recorded at registration: only its LightGBM "
                    "files are checked for being whole", what)
        model_files.check_unrecorded(local, what)
    return local, name, version, run_id


def _unavailable(uri: str, err: BaseException) -> str:
    """Why the model behind ``uri`` cannot be loaded, and what to do about it."""
    reason = error_reason(err)
    hint = ("Train and register one (`dvc repro evaluate`), point MLFLOW_TRACKING_URI at the "
            "store that has it, or pass --model-uri")
    by_alias = re.fullmatch(r"models:/([^/@]+)@(.+)", uri)
    if request_failed(err):
        hint = "Start the tracking server, or point MLFLOW_TRACKING_URI at a running one"
    elif by_alias:
        name, alias = by_alias.groups()
        aliases = model_aliases(name)
        if aliases is not None and alias not in aliases:
            have = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items()))
            reason = (f"the registered model {name} has no alias {alias!r} "
                      f"({'its aliases: ' + have if have else 'it has no alias'})")
            hint = ("Set the alias (README, 'Working as a team') or pass "
                    f"--model-uri models:/{name}/<version>")
    return (f"cannot load the model {uri} from the tracking store "
            f"{masked_tracking_uri()}: {reason}. {hint}")


def download_model(uri: str, dst: Path) -> Path:
    """Copy the files of the model behind ``uri`` into ``dst``; return the model's folder."""
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))


def load_local_model(folder: str) -> Any:
    """The pyfunc model saved in ``folder`` (a downloaded copy; no tracking store needed)."""
    return mlflow.pyfunc.load_model(folder)


def log_artifact(run_id: str, path: Path, artifact_path: str) -> None:
    """Add one file to an existing run."""
    MlflowClient().log_artifact(run_id, str(path), artifact_path)
