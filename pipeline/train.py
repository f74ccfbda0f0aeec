"""DVC stage ``train``: the defection, stage-transition and value models.

Reads the labels (``data/labels``) and the feature table (``data/features``),
fits the models with the training recipe (:func:`models.train.fit_models`: train
on the training snapshots, stop early on one half of the validation rows'
customers, calibrate the defection model on the other half), refits them on every
labelled cutoff (:func:`models.train.refit_models`), and writes both to
``data/models/`` (the refitted ones, which score, in ``data/models/deployed/``)
with ``reports/train.json``. Everything is logged to one
MLflow run, which the ``evaluate`` stage continues with the test metrics and the
registration.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from models.fitted import save_fitted
from models.train import fit_models, refit_models
from models.uplift import contact_rows, describe, learn_effects
from pipeline import tracking
from pipeline.config import load_params
from pipeline.datasets import load_contacts, load_training_frame
from pipeline.io import atomic_path, write_json
from pipeline.params import Params
from pipeline.paths import PATHS, Paths
from pipeline.runner import run_stage
from pipeline.wiring.features import feature_spec
from pipeline.wiring.models import (
    lightgbm_params,
    transition_lightgbm_params,
    value_lightgbm_params,
)

log = logging.getLogger("churn")


def fit(frame: Any, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training recipe with the settings of params: fitted models and summary."""
    return fit_models(
        frame, spec=feature_spec(params), lightgbm=lightgbm_params(params),
        horizon_days=params.labels.horizon_days,
        calibration_fraction=params.train.calibration_fraction,
        bgnbd_features=params.train.bgnbd_features,
        candidates=params.train.defection_candidates, seed=params.train.lightgbm.seed,
        transition_lightgbm=transition_lightgbm_params(params),
        value_lightgbm=value_lightgbm_params(params))


def refit(frame: Any, fitted: dict[str, Any],
          params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models that score, refitted on every labelled cutoff (see
    :func:`models.train.refit_models`), with the settings of params."""
    return refit_models(frame, fitted, lightgbm=lightgbm_params(params),
                        horizon_days=params.labels.horizon_days,
                        transition_lightgbm=transition_lightgbm_params(params),
                        value_lightgbm=value_lightgbm_params(params))


def effects(frame: Any, fitted: dict[str, Any], deployed: dict[str, Any], params: Params,
            contacts: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The actions' effects learned from the past retention contacts, for the held-out
    and the deployed models (:func:`models.uplift.learn_effects`), with the settings of
    params ``train.effects`` and the actions of ``score.economics``."""
    settings = params.train.effects
    frame = frame.join(contact_rows(frame, contacts, within_days=settings.contact_within_days))
    return learn_effects(frame, fitted, deployed, params.score.economics,
                         lightgbm=lightgbm_params(params),
                         horizon_days=params.labels.horizon_days,
                         min_rows=settings.min_rows, min_outcomes=settings.min_outcomes)


def main(params: Params | None = None, paths: Paths | None = None) -> dict[str, Any]:
    """Train the models; return the summary written to ``reports/train.json``."""
    params = params or load_params()
    paths = paths or PATHS
    # An unreachable tracking store fails the stage now, not after the work.
    tracking.configure(params)
    started = time.perf_counter()
    frame = load_training_frame(paths)
    fitted, summary = fit(frame, params)
    deployed, summary["refit"] = refit(frame, fitted, params)
    fitted["effects"], deployed["effects"], summary["effects"] = effects(
        frame, fitted, deployed, params, load_contacts(paths))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    with atomic_path(paths.models, directory=True) as tmp:
        save_fitted(fitted, tmp)
        deployed_dir = tmp / paths.deployed_models.relative_to(paths.models)
        deployed_dir.mkdir()
        save_fitted(deployed, deployed_dir)
    summary["mlflow"] = tracking.log_training(params, paths, frame, fitted, summary)
    write_json(summary, paths.train_report)
    log.info("train: defection model %s (chosen on validation), calibrated by %s; effects "
             "%s; %.1f s", summary["defection_choice"]["chosen"],
             summary["calibration"]["method"],
             describe(deployed["effects"], params.score.economics), summary["seconds"])
    return summary


if __name__ == "__main__":
    run_stage(main)
