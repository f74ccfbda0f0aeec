"""Where everything lives: the project directory, ``params.yaml``, and the outputs of
each stage (the same paths as in ``dvc.yaml``)."""

from __future__ import annotations

import os
from pathlib import Path

# Stages run from the project directory (DVC runs them there); paths stay relative
# so that messages and dvc.yaml read the same.
ROOT = Path(os.environ.get("CHURN_PROJECT_DIR", "."))
PARAMS_FILE = "params.yaml"


def resolve(path: str | os.PathLike[str]) -> Path:
    """A path from params, relative to the project root unless absolute."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


class Paths:
    """Where each stage writes. Relative to the project root; mirrored in dvc.yaml."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.raw = root / "data" / "raw"
        self.demo = self.raw / "demo"
        # The simulator's truth lives outside data/raw: nothing that reads inputs sees it.
        self.truth = root / "data" / "truth"
        self.ground_truth = self.truth / "ground_truth.parquet"
        self.clean = root / "data" / "clean"
        self.quarantine = self.clean / "quarantine.parquet"
        self.features = root / "data" / "features"
        self.reports = root / "reports"
        self.validation_report = self.reports / "validation.json"
        self.features_report = self.reports / "features.json"
        self.labels = root / "data" / "labels"
        self.labels_table = self.labels / "labels.parquet"
        self.labels_report = self.reports / "labels.json"
        self.models = root / "data" / "models"
        # The models that score (refitted on every labelled cutoff); those beside the
        # folder are the ones the test snapshot evaluates.
        self.deployed_models = self.models / "deployed"
        self.train_report = self.reports / "train.json"
        # Every test figure, and the headline figures DVC shows (`dvc metrics show`).
        self.evaluation = self.reports / "evaluation.json"
        self.metrics = self.reports / "metrics.json"
        self.promotion = self.reports / "promotion.json"
        self.plots = self.reports / "plots"
        self.customer_index = self.clean / "customer_index.parquet"
        self.scorer = root / "data" / "scorer"
        self.scores = root / "data" / "scores"
        self.scores_db = root / "data" / "scores.duckdb"
        self.drift = root / "data" / "drift"
        self.score_report = self.reports / "score.json"
        # HTML reports (pipeline.reports): the latest of each, and every scoring date's.
        self.training_report = self.reports / "training_report.html"
        self.scoring_report = self.reports / "scoring_report.html"
        self.scoring_reports = self.reports / "scoring"
        # One lock file per stage: two runs of a stage at once run one after the other.
        self.locks = root / "data" / ".locks"

    def clean_table(self, table: str) -> Path:
        return self.clean / f"{table}.parquet"

    def clean_inputs(self) -> dict[str, Path]:
        """The clean tables the feature engines read, by name, with ``customer_index``."""
        tables = {name: self.clean_table(name)
                  for name in ("transactions", "interactions", "customers")}
        return {**tables, "customer_index": self.customer_index}

    def demo_input(self, table: str) -> Path:
        return self.demo / f"{table}.csv"


PATHS = Paths()
