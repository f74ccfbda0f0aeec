"""The scorer: feature rows in, scored customers out, as one bundle.

Two layers:

* the **fitted models** (:mod:`models.fitted`): the calibrated defection
  model, the stage-transition model, the value model, the BG/NBD inputs and
  the design-matrix schemas. :func:`~models.fitted.predict_all` is the single
  place where feature rows become predictions; evaluation calls it directly.
* the **decisions** taken on those predictions (:class:`Decisions`): the stage
  rules, the risk bands, the value-tier cuts (frozen as amounts on a reference
  population), the action policy and the economics of the actions
  (:mod:`models.economics`: each row's action of highest expected net value).

:class:`Scorer` holds both, plus the feature schema the models were trained on
(:mod:`models.feature_schema`) and the reference distributions of the drift
check (:mod:`models.drift`). :meth:`Scorer.score` turns feature-table rows
into the columns of the scored table (:data:`features.schema.CUSTOMER_SCORES`,
except the model and run columns, which the caller knows). Each row is scored
from its own features only, so a table scored in pieces (Spark partitions,
chunks) gives the same rows as the whole table scored at once.
:class:`ChurnScorer` wraps it as the MLflow pyfunc model that the registry
holds, so the batch job, ``mlflow models predict`` and
``mlflow.pyfunc.spark_udf`` all run this same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from scipy.special import expit

from features.schema import CUSTOMER_SCORES, N_REASONS
from models.actions import ActionPolicy
from models.defection import grouped_contributions
from models.drift import DriftReference
from models.economics import Economics, decide
from models.feature_schema import check_schema, schema_digest
from models.fitted import _design, _predict, load_fitted, predict_all, save_fitted
from models.reasons import top_reasons
from models.risk import RiskBands, risk_label
from models.stages import StageRules, assign_stages
from models.value_tiers import TierCuts, ValueTiers

__all__ = [
    "SCORE_COLUMNS",
    "ChurnScorer",
    "Decisions",
    "Scorer",
]

#: The columns :meth:`Scorer.score` returns: the scored table without the columns
#: that name the model and the run (added by whoever loaded the model).
SCORE_COLUMNS: tuple[str, ...] = tuple(
    c for c in CUSTOMER_SCORES.names
    if c not in ("model_name", "model_version", "run_id", "scored_at"))

#: Groups of the value-tier cuts when prospects are ranked among prospects.
_PROSPECTS, _BUYERS = "prospect", "buyer"


# --------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Decisions:
    """Everything decided on top of the predictions, frozen with the models.

    Parameters
    ----------
    stage_rules
        Thresholds of the lifecycle stages.
    risk_bands
        Risk labels from the calibrated defection probability.
    value_cuts
        Value tiers as amounts, fitted on a reference population (grouped by
        ``prospect`` / ``buyer`` when prospects are ranked among prospects).
    policy
        The action for every (stage, risk label, value tier): the decisions with
        ``economics.mode: rules``, the actions each stage allows otherwise.
    horizon_days
        The prediction horizon the models were trained for.
    n_reasons
        Reason columns per row.
    satisfaction_scale
        Highest satisfaction score, for the reason sentences.
    reason_method
        How the defection model's predictions are split into reasons
        (:func:`models.contributions.contributions`): ``"path"`` (fast, for batches)
        or ``"treeshap"``.
    economics
        Costs, prior effects and margin of the actions (a bundle saved without them
        decides by the rule table, ``mode: rules``).
    """

    stage_rules: StageRules
    risk_bands: RiskBands
    value_cuts: TierCuts
    policy: ActionPolicy
    horizon_days: float
    n_reasons: int = N_REASONS
    satisfaction_scale: float | None = 5.0
    reason_method: str = "path"
    economics: Economics = field(default_factory=Economics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage_rules": self.stage_rules.model_dump(),
            "risk_bands": self.risk_bands.model_dump(),
            "value_cuts": self.value_cuts.to_dict(),
            "policy": [rule.to_dict() for rule in self.policy.rules],
            "horizon_days": self.horizon_days,
            "n_reasons": self.n_reasons,
            "satisfaction_scale": self.satisfaction_scale,
            "reason_method": self.reason_method,
            "economics": self.economics.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decisions:
        return cls(
            stage_rules=StageRules(**data["stage_rules"]),
            risk_bands=RiskBands(**data["risk_bands"]),
            value_cuts=TierCuts.from_dict(data["value_cuts"]),
            policy=ActionPolicy.from_rules(data["policy"]),
            horizon_days=float(data["horizon_days"]),
            n_reasons=int(data["n_reasons"]),
            satisfaction_scale=data["satisfaction_scale"],
            reason_method=data["reason_method"],
            economics=Economics.model_validate(data.get("economics", {"mode": "rules"})),
        )

    def tier_groups(self, stage: pd.Series) -> np.ndarray | None:
        """The value-tier group of each row (None when the cuts are not grouped)."""
        if not self.value_cuts.grouped:
            return None
        return np.where(stage.astype(str).to_numpy() == "prospect", _PROSPECTS, _BUYERS)


# --------------------------------------------------------------------------
# The scorer
# --------------------------------------------------------------------------


class Scorer:
    """Fitted models, decisions, feature schema and drift reference, as one object.

    Build it with :meth:`build` (at registration), persist it with :meth:`save`
    and :meth:`load`, and score with :meth:`score`.

    Parameters
    ----------
    fitted
        Output of :func:`~models.fitted.load_fitted` (or of training).
    decisions
        The decision layer.
    feature_schema
        Feature-table column -> Arrow dtype, as the models were trained on.
    drift
        Reference distributions of the features and of ``p_defect``; None to
        skip the drift check.
    """

    def __init__(self, fitted: Mapping[str, Any], decisions: Decisions,
                 feature_schema: Mapping[str, str], drift: DriftReference | None = None) -> None:
        self.fitted = dict(fitted)
        self.decisions = decisions
        self.feature_schema = dict(feature_schema)
        self.drift = drift

    @classmethod
    def build(cls, fitted: Mapping[str, Any], *, feature_schema: Mapping[str, str],
              reference: pd.DataFrame, stage_rules: StageRules, risk_bands: RiskBands,
              value_tiers: ValueTiers, rank_prospects_separately: bool,
              policy: ActionPolicy, horizon_days: float,
              satisfaction_scale: float | None = 5.0, reason_method: str = "path",
              drift_bins: int = 10, economics: Economics | None = None) -> Scorer:
        """Freeze the decisions on a reference population and bundle everything.

        Parameters
        ----------
        reference
            Feature-table rows of the population the models were last tested on
            (one snapshot): the value-tier quantiles and the drift reference are
            taken from them.
        value_tiers, rank_prospects_separately
            How predicted value is cut into tiers; with ``method="quantile"`` the
            quantiles of the reference's predicted values become fixed amounts,
            computed among prospects and among buyers separately when
            ``rank_prospects_separately``. A group absent from the reference
            gets the cuts of the whole reference.
        Other parameters are the fields of :class:`Decisions`.
        """
        check_schema(feature_schema, reference)
        rows = reference.reset_index(drop=True).copy()
        rows["stage"] = assign_stages(rows, stage_rules)
        pred = predict_all(fitted, rows, horizon_days=horizon_days)
        values = pred["predicted_value"].to_numpy()
        if value_tiers.method == "quantile" and rank_prospects_separately:
            groups = np.where(rows["stage"].astype(str) == "prospect", _PROSPECTS, _BUYERS)
            overall = value_tiers.thresholds(values)
            cuts = {}
            for group in (_PROSPECTS, _BUYERS):
                mine = values[groups == group]
                cuts[group] = value_tiers.thresholds(mine) if mine.size else overall
            value_cuts = TierCuts(cuts, side="left")
        else:
            value_cuts = value_tiers.fit(values)
        decisions = Decisions(stage_rules=stage_rules, risk_bands=risk_bands,
                              value_cuts=value_cuts, policy=policy,
                              horizon_days=float(horizon_days),
                              satisfaction_scale=satisfaction_scale,
                              reason_method=reason_method,
                              economics=economics or Economics())
        drift_frame = rows[list(_drift_columns(feature_schema))].assign(
            p_defect=pred["p_defect"].where(rows["stage"].astype(str) != "prospect"))
        drift = DriftReference.fit(drift_frame, bins=drift_bins)
        return cls(fitted, decisions, feature_schema, drift)

    # -- persistence -----------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write the bundle into ``folder`` (created; must not hold another bundle)."""
        folder = Path(folder)
        (folder / "models").mkdir(parents=True, exist_ok=True)
        save_fitted(self.fitted, folder / "models")
        meta = {"decisions": self.decisions.to_dict(), "feature_schema": self.feature_schema,
                "feature_schema_digest": schema_digest(self.feature_schema)}
        (folder / "scorer.json").write_text(json.dumps(meta, indent=2))
        if self.drift is not None:
            (folder / "drift_reference.json").write_text(json.dumps(self.drift.to_dict()))

    @classmethod
    def load(cls, folder: str | Path) -> Scorer:
        """Read a bundle written by :meth:`save`."""
        folder = Path(folder)
        meta = json.loads((folder / "scorer.json").read_text())
        drift_file = folder / "drift_reference.json"
        drift = (DriftReference.from_dict(json.loads(drift_file.read_text()))
                 if drift_file.exists() else None)
        return cls(load_fitted(folder / "models"), Decisions.from_dict(meta["decisions"]),
                   meta["feature_schema"], drift)

    # -- scoring -----------------------------------------------------------------

    def check_schema(self, frame: pd.DataFrame) -> None:
        """Raise :class:`~models.feature_schema.SchemaMismatchError` unless ``frame`` has
        the model's features."""
        check_schema(self.feature_schema, frame)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score feature-table rows.

        Parameters
        ----------
        frame
            Rows of the feature table (one per customer, normally all at one
            cutoff), with exactly the columns of :attr:`feature_schema`. Not
            modified.

        Returns
        -------
        pandas.DataFrame
            One row per input row, in order (index reset), with the columns of
            :data:`SCORE_COLUMNS`: ``as_of`` is the row's ``cutoff``; prospects
            have no ``p_defect``, ``risk_label``, ``value_at_risk`` or reasons. The
            action is the row's own best (:func:`models.economics.decide`) and
            ``contact_rank`` is null: the budget and the order of the contacts are
            taken over the whole population (:func:`models.contacts.apply_budget`).

        Raises
        ------
        models.feature_schema.SchemaMismatchError
            When the columns differ from the feature schema of the models.
        """
        self.check_schema(frame)
        d = self.decisions
        rows = frame.reset_index(drop=True).copy()
        rows["stage"] = assign_stages(rows, d.stage_rules)
        with_bg, X = _design(self.fitted, rows, d.horizon_days)
        buyer = (rows["stage"] != "prospect").to_numpy()
        f = self.fitted
        # The reasons' contributions add up to the defection log-odds: the buyers'
        # probability comes from them, and prospects (who get none) are not predicted.
        sums = (grouped_contributions(f["defection_choice"], f["defection_offset"],
                                      f["defection"], with_bg[buyer], X[buyer],
                                      method=d.reason_method) if buyer.any() else None)
        raw = np.full(len(rows), np.nan)
        if sums is not None:
            raw[buyer] = expit(sums.to_numpy().sum(axis=1))
        pred = _predict(f, with_bg, X, raw=raw)
        p_defect = pred["p_defect"].where(buyer)
        risk = risk_label(p_defect, d.risk_bands)
        value = pred["predicted_value"]
        tier = d.value_cuts.apply(value, d.tier_groups(rows["stage"]))
        learned = self.fitted.get("effects")
        decided = decide(d.economics, d.policy, stage=rows["stage"], risk=risk,
                         value_tier=tier, p_defect=p_defect, predicted_value=value,
                         effects=learned.effects(X, d.economics) if learned else None)

        def text(values: Any) -> pd.Series:
            # pandas' string dtype: Arrow-backed (compact), missing values as NA.
            return pd.Series(values, dtype="str")

        reasons = {f"reason_{i + 1}": np.full(len(rows), None, dtype=object)
                   for i in range(d.n_reasons)}
        if sums is not None:
            found = top_reasons(sums, _with_btyd(with_bg[buyer], f["defection_offset"]),
                                k=d.n_reasons,
                                groups={key: [key] for key in sums.columns[:-1]},
                                satisfaction_scale=d.satisfaction_scale)
            for column, values in reasons.items():
                values[buyer] = found[column].astype(object).to_numpy()
        out = pd.DataFrame({
            "customer_id": text(rows["customer_id"].astype(str)),
            "as_of": pd.to_datetime(rows["cutoff"]).dt.date,
            "stage": text(rows["stage"].astype(str)),
            "next_stage": text(pred["next_stage"]),
            "p_next_stage": pred["p_next_stage"].astype("float64"),
            "p_defect": p_defect.astype("float64"),
            "risk_label": text(pd.Series(risk).astype(object).where(buyer, None)),
            "predicted_value": value.astype("float64"),
            "value_at_risk": (p_defect * value).astype("float64"),
            "value_tier": text(pd.Series(tier).astype(object)),
            "action": text(decided.action),
            "action_rule": text(decided.action_rule),
            "expected_net_value": decided.expected_net_value.astype("float64"),
            "action_cost": decided.action_cost.astype("float64"),
            # The order within the budget is a step over the whole population
            # (models.contacts), after every row is scored.
            "contact_rank": pd.array([pd.NA] * len(rows), dtype="Int64"),
            **{column: text(values) for column, values in reasons.items()},
        })
        return out[list(SCORE_COLUMNS)]


def _with_btyd(rows: pd.DataFrame, offset: Any) -> pd.DataFrame:
    """``rows`` with the BTYD probabilities of the defection model's logistic part that
    they lack, for the reason texts of the purchase pattern."""
    missing = {name: model for name, model in getattr(offset, "btyd_", {}).items()
               if name not in rows.columns}
    if not missing:
        return rows
    return rows.assign(**{name: model.predict_proba(rows) for name, model in missing.items()})


def _drift_columns(feature_schema: Mapping[str, str]) -> list[str]:
    """The features whose distribution the drift check follows: every feature but
    the identifiers and the snapshot date."""
    return [c for c in feature_schema if c not in ("customer_id", "cutoff", "cutoff_month")]


class ChurnScorer(mlflow.pyfunc.PythonModel):
    """The :class:`Scorer` as an MLflow pyfunc model: feature rows in, scored rows out."""

    def load_context(self, context: Any) -> None:
        self.scorer = Scorer.load(context.artifacts["scorer"])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.score(model_input)
