"""The model a scoring job scores with: loaded from the MLflow registry (through
:mod:`pipeline.tracking`) and checked against the params of the job."""

from __future__ import annotations

from dataclasses import dataclass

from features.spec import feature_table
from models.feature_schema import schema_difference
from models.scorer import Scorer
from pipeline import tracking
from pipeline.errors import ModelMismatchError, ModelUnavailableError, TrackingStoreError
from pipeline.params import Params
from pipeline.wiring.features import feature_spec
from pipeline.wiring.models import stage_rules


@dataclass(frozen=True)
class LoadedModel:
    """A scorer with where it came from."""

    scorer: Scorer
    uri: str
    name: str
    version: str | None
    run_id: str | None


def model_uri(params: Params) -> str:
    """The model to score with: ``score.model_uri``, else the registered champion."""
    return params.score.model_uri or f"models:/{params.train.registered_model}@{tracking.CHAMPION}"


def load_model(params: Params) -> LoadedModel:
    """Load the scorer behind :func:`model_uri`.

    Raises
    ------
    ModelUnavailableError
        Naming the URI and the tracking store, when the model, version or alias
        does not exist or the store cannot be reached.
    """
    uri = model_uri(params)
    try:
        tracking.configure(params)
    except TrackingStoreError as err:
        raise ModelUnavailableError(f"cannot load the model {uri}: {err}") from None
    python_model, name, version, run_id = tracking.load_python_model(uri)
    scorer = getattr(python_model, "scorer", None)
    if not isinstance(scorer, Scorer):
        raise ModelUnavailableError(
            f"{uri} is not a scorer of this pipeline (a pyfunc model of "
            f"models.scorer.ChurnScorer, as `evaluate` registers); got "
            f"{type(python_model).__name__ if python_model is not None else 'another flavour'}")
    return LoadedModel(scorer=scorer, uri=uri, name=name, version=version, run_id=run_id)


def check_compatible(scorer: Scorer, params: Params) -> None:
    """Refuse a scorer trained on other features or other stage rules than params say.

    Raises
    ------
    ModelMismatchError
        Naming every difference.
    """
    spec = feature_spec(params)
    expected = feature_table(spec).dtypes
    problems = [f"features: {p}" for p in schema_difference(scorer.feature_schema, expected)]
    bundled = scorer.decisions.stage_rules
    wanted = stage_rules(params)
    problems += [f"stages.{k}: the model has {v!r}, params say {getattr(wanted, k)!r}"
                 for k, v in bundled.model_dump().items() if getattr(wanted, k) != v]
    if problems:
        raise ModelMismatchError(
            "the model does not fit these params (" + "; ".join(problems) + "). Score with the "
            "params the model was trained with, or retrain (`dvc repro`)")
