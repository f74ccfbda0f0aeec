"""The declaration of ``params.yaml``: every section and key, its type, default and range.

One pydantic model per section (frozen, unknown keys refused), in the order of the
file; :func:`pipeline.config.load_params` reads and validates the file into
:class:`Params`. Stages take the section they need and pass plain values to the
library (:mod:`pipeline.wiring`).

The sections are strict: a number is not a boolean nor a boolean a number
(``horizon_days: true`` is refused, not read as 1), a whole number is not written
``90.0`` or ``"90"``, no float is NaN or infinite, a date is a date (or ``YYYY-MM-DD``
text, as a quoted date is read; never a number). YAML has no tuples: a list is read
as the tuple a key declares.

Six sections are the library's value objects themselves, declared (defaults,
ranges, cross-field checks) once where they are used: ``stages`` is
:class:`models.stages.StageRules`, ``train.lightgbm`` is
:class:`models.lgbm.LightGBMParams`, ``evaluate.promotion`` is
:class:`models.promotion.PromotionRule`, ``score.risk_bands`` is
:class:`models.risk.RiskBands`, ``score.economics`` is
:class:`models.economics.Economics` and ``score.budget`` is
:class:`models.contacts.Budget`.

One piece: the sections are read together (cross-section checks, the key
suggestions of :mod:`pipeline.config` walk them), and the file mirrors
``params.yaml`` from top to bottom so that a reader finds each key once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from models.contacts import Budget
from models.economics import Economics, EffectSettings
from models.lgbm_params import LightGBMParams
from models.promotion import PromotionRule
from models.risk import RiskBands
from models.stages import MAX_DAYS, StageRules
from pipeline.identifiers import check_identifier
from pipeline.paths import resolve
from pipeline.secrets import mask_url


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _yaml_forms(cls, data: Any) -> Any:
        """Give each declared tuple and date the Python form of what YAML writes for it;
        anything else stays as given, for the strict checks to refuse."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key in out:
                out[key] = _from_yaml(field.annotation, out[key])
        return out


def _from_yaml(annotation: Any, value: Any) -> Any:
    """``value`` as the declared type holds it: a YAML list for a tuple is the tuple it
    spells, text ``YYYY-MM-DD`` (a quoted date) or a date and time at midnight for a
    date is the date, item by item in lists, tuples and mappings. A number is never a
    date (no epoch is guessed)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _from_yaml(args[0], value)
    if origin in (Union, types.UnionType):
        for arg in args:
            converted = _from_yaml(arg, value)
            if converted is not value:
                return converted
        return value
    if origin is tuple and isinstance(value, list):
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        return tuple(_from_yaml(k, v) for k, v in zip(kinds, value, strict=False)) + tuple(
            value[len(kinds):])
    if origin is list and args and isinstance(value, list):
        return [_from_yaml(args[0], v) for v in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _from_yaml(args[1], v) for k, v in value.items()}
    if annotation is dt.date:
        if isinstance(value, dt.datetime):
            return value.date() if value.time() == dt.time(0) and value.tzinfo is None else value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                return value  # 2023-02-30: refused by the date check
    return value


#: A pair of numbers: ``[low, high]`` in the file.
Pair = tuple[float, float]

#: Every count of days is at most :data:`models.stages.MAX_DAYS`, a hundred years: a
#: longer one is a typing error and would reach past the calendar's dates. A label
#: horizon is at most ten years, beyond anything a retention plan acts on.
MAX_HORIZON_DAYS = 3_650
#: Validation or test cutoffs of a plan chosen from the data, at most.
MAX_CUTOFFS = 1_000
#: A wait for a lock, in seconds, is at most a day.
MAX_WAIT_SECONDS = 86_400.0
#: A whole number of days, one or more.
Days = Annotated[int, Field(gt=0, le=MAX_DAYS)]


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


class SizeParams(_Section):
    customers: int = Field(gt=0)
    days: int = Field(gt=60, le=MAX_DAYS)
    # null: customers acquired over the whole period; a number: one cohort acquired
    # over these first days, that then ages.
    acquisition_days: int | None = Field(default=None, gt=0, le=MAX_DAYS)


class CampaignParams(_Section):
    """The simulated company's past retention campaigns (features.simulate.campaigns)."""

    enabled: bool = True
    capacity: float = Field(default=0.03, gt=0, le=1)  # chosen per month / buyers known
    control_share: float = Field(default=0.2, ge=0, le=1)  # held out at random


class GenerateParams(_Section):
    size: str = "default"
    seed: int = 20240101
    start_date: dt.date = dt.date(2022, 1, 1)
    sizes: dict[str, SizeParams]
    campaigns: CampaignParams = Field(default_factory=CampaignParams)

    @model_validator(mode="after")
    def _size_known(self) -> GenerateParams:
        if self.size not in self.sizes:
            raise ValueError(
                f"generate.size is {self.size!r}, which is not one of generate.sizes: "
                f"{sorted(self.sizes)}"
            )
        return self

    @property
    def chosen(self) -> SizeParams:
        return self.sizes[self.size]


class ColumnMaps(_Section):
    """Per input table, contract column -> its name in the file. The names are only
    compared with the file's header and quoted where they reach SQL, so any text is
    safe; the keys must be contract columns."""

    transactions: dict[str, str] = Field(default_factory=dict)
    interactions: dict[str, str] = Field(default_factory=dict)
    customers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _contract_columns(self) -> ColumnMaps:
        from features.schema import INPUT_TABLES

        for table in ("transactions", "interactions", "customers"):
            mapping, names = getattr(self, table), INPUT_TABLES[table].names
            for key in sorted(set(mapping) - set(names)):
                near = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(
                    f"data.columns.{table}.{key} is not a column of the {table} contract{hint}; "
                    f"the keys are contract columns ({', '.join(names)}), each mapped to the "
                    f"column's name in the file")
            for key, value in mapping.items():
                if not value.strip():
                    raise ValueError(f"data.columns.{table}.{key} is empty: give the column's "
                                     f"name in the file, or remove the key")
        return self


class DataParams(_Section):
    transactions: str = Field(min_length=1)
    interactions: str | None = None
    customers: str | None = None
    columns: ColumnMaps = Field(default_factory=ColumnMaps)
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    thousands: Literal[".", ",", " ", "'"] | None = None
    timestamp_format: str | None = None
    timezone: str = "UTC"
    interaction_kinds: list[str] = Field(min_length=1)
    satisfaction_range: Pair = (1.0, 5.0)
    encoding: str = "utf-8"
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, value: str) -> str:
        import codecs

        try:
            known = codecs.lookup(value)._is_text_encoding
        except LookupError:
            known = False
        if not known:
            raise ValueError(f"data.encoding {value!r} is not a text encoding Python knows; "
                             f"use e.g. 'utf-8', 'cp1252', 'latin-1' or 'utf-16'")
        return value

    @field_validator("interaction_kinds")
    @classmethod
    def _kinds_are_identifiers(cls, kinds: list[str]) -> list[str]:
        bad = [k for k in kinds if not k.isidentifier() or k != k.lower()]
        if bad:
            raise ValueError(
                f"interaction kinds become column names and must be lower-case identifiers "
                f"(letters, digits, underscores): {bad}"
            )
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"interaction kinds are repeated: {kinds}")
        return kinds

    @model_validator(mode="after")
    def _consistent(self) -> DataParams:
        lo, hi = self.satisfaction_range
        if lo >= hi:
            raise ValueError(f"data.satisfaction_range must be [low, high] with low < high, "
                             f"got {list(self.satisfaction_range)}")
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(f"data.thousands and data.decimal are both {self.decimal!r}")
        if len(self.delimiter) != 1:
            raise ValueError(f"data.delimiter must be one character, got {self.delimiter!r}")
        if self.delimiter in ('"', "\n", "\r"):
            raise ValueError(f"data.delimiter cannot be a double quote or a line break, got "
                             f"{self.delimiter!r}")
        if self.timestamp_format is not None:
            _check_timestamp_format(self.timestamp_format)
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"data.timezone {self.timezone!r} is not a known time zone "
                             f"(use an IANA name such as 'Europe/Paris' or 'UTC')") from err
        return self

    def path(self, table: str) -> Path | None:
        value = getattr(self, table)
        return None if value is None else resolve(value)


def _check_timestamp_format(fmt: str) -> None:
    """Refuse a strptime format that DuckDB (which parses the timestamps) cannot use."""
    import re

    import duckdb

    example = "e.g. '%d/%m/%Y %H:%M' or '%Y-%m-%dT%H:%M:%S%z'"
    if not re.search(r"%-?[Yy]", fmt):
        raise ValueError(f"data.timestamp_format {fmt!r} has no year (%Y or %y); {example}")
    con = duckdb.connect()
    try:
        con.execute("SELECT try_strptime('', $fmt)", {"fmt": fmt}).fetchall()
    except duckdb.Error as err:
        reason = str(err).splitlines()[0].split(": ", 1)[-1]
        raise ValueError(f"data.timestamp_format {fmt!r} is not a format DuckDB can parse "
                         f"({reason}); {example}") from None
    finally:
        con.close()


def _check_memory_size(key: str, value: str | None) -> str | None:
    """Refuse a DuckDB memory cap that is not a size such as ``2GB`` or ``512MiB``."""
    import re

    if value is not None and not re.fullmatch(r"\d+(\.\d+)?\s*(K|M|G|T)i?B", value.strip()):
        raise ValueError(f"{key} must be a size such as '2GB' or '512MiB', got {value!r}")
    return value


def _refuse_password(value: str, advice: str) -> None:
    """Refuse a URL with a password in it (shown masked), saying where it would leak."""
    if mask_url(value) != value:
        raise ValueError(f"holds a password ({mask_url(value)}); {advice}")


class ValidateParams(_Section):
    max_future_days: int = Field(default=1, ge=0, le=MAX_DAYS)
    min_timestamp: dt.date = dt.date(1990, 1, 1)
    memory_limit: str | None = "1GB"
    threads: int | None = Field(default=None, gt=0)
    # Plausible values of one transaction, inclusive; others are quarantined.
    amount_range: Pair = (-1_000_000.0, 1_000_000.0)
    quantity_range: Pair = (0.0, 1_000_000.0)
    discount_range: Pair = (0.0, 1_000_000.0)

    @field_validator("amount_range", "quantity_range", "discount_range")
    @classmethod
    def _low_below_high(cls, value: tuple[float, float], info: Any) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError(f"validate.{info.field_name} must be [low, high] with low < high, "
                             f"got {list(value)}")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        return _check_memory_size("validate.memory_limit", value)


class SparkParams(_Section):
    """The Spark engine's session (``features.engine: spark``): master and memory.

    The environment variable ``SPARK_MASTER`` wins over ``master``; under
    ``spark-submit`` the session it started is used as it is."""

    master: str = "local[*]"
    driver_memory: str | None = "2g"
    executor_memory: str | None = None
    shuffle_partitions: int | None = Field(default=None, gt=0)
    conf: dict[str, str] = Field(default_factory=dict)  # any other spark.* setting


class FeaturesParams(_Section):
    windows_days: list[Days] = Field(default_factory=lambda: [30, 90, 180, 365], min_length=1)
    trend_days: int = Field(default=90, gt=0, le=MAX_DAYS)
    resolution_kinds: list[str] = Field(default_factory=lambda: ["complaint", "support_ticket"])
    snapshot_frequency: str = "MS"
    first_snapshot: dt.date | None = None
    last_snapshot: dt.date | None = None
    events_per_chunk: int = Field(default=2_000_000, gt=0)
    workers: int = Field(default=2, gt=0)
    memory_limit: str | None = None
    threads: int | None = Field(default=None, gt=0)
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkParams = Field(default_factory=SparkParams)

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        return _check_memory_size("features.memory_limit", value)

    @field_validator("windows_days")
    @classmethod
    def _windows_sorted(cls, windows: list[int]) -> list[int]:
        if any(w <= 0 for w in windows) or len(set(windows)) != len(windows):
            raise ValueError(f"windows must be distinct positive day counts, got {windows}")
        return sorted(windows)

    @field_validator("snapshot_frequency")
    @classmethod
    def _frequency_known(cls, value: str) -> str:
        import pandas as pd

        try:
            pd.tseries.frequencies.to_offset(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a pandas offset alias (e.g. 'MS', '30D', "
                             f"'W-MON')") from err
        return value

    @model_validator(mode="after")
    def _snapshots(self) -> FeaturesParams:
        if (self.first_snapshot and self.last_snapshot
                and self.first_snapshot > self.last_snapshot):
            raise ValueError(f"features.first_snapshot ({self.first_snapshot}) is after "
                             f"features.last_snapshot ({self.last_snapshot})")
        return self


class LabelsParams(_Section):
    horizon_days: int = Field(default=90, gt=0, le=MAX_HORIZON_DAYS)
    # None: 365, 28 for short logs.
    min_history_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    # At most a thousand cutoffs each: a plan of more is a typing error.
    n_validation: int = Field(default=1, ge=0, le=MAX_CUTOFFS)
    n_test: int = Field(default=1, ge=1, le=MAX_CUTOFFS)
    validation_share: float = Field(default=0.2, gt=0, lt=1)
    train_cutoffs: list[dt.date] | None = None
    validation_cutoffs: list[dt.date] | None = None
    test_cutoffs: list[dt.date] | None = None

    @model_validator(mode="after")
    def _explicit_plan_complete(self) -> LabelsParams:
        given = {name: getattr(self, f"{name}_cutoffs") is not None
                 for name in ("train", "validation", "test")}
        if any(given.values()) and not all(given.values()):
            missing = [f"labels.{name}_cutoffs" for name, ok in given.items() if not ok]
            raise ValueError(f"an explicit split plan needs train, validation and test cutoffs "
                             f"(validation may be []); missing: {missing}")
        if given["train"] and (not self.train_cutoffs or not self.test_cutoffs):
            raise ValueError("labels.train_cutoffs and labels.test_cutoffs must not be empty")
        return self

    @property
    def explicit(self) -> bool:
        """Whether params give the cutoffs (otherwise they are chosen from the data)."""
        return self.train_cutoffs is not None


#: A candidate of the defection model (:data:`models.defection.CANDIDATES`).
DefectionCandidate = Literal["logistic_btyd", "paretonbd", "bgnbd", "lightgbm",
                             "lightgbm_btyd", "blend"]
DEFECTION_CANDIDATES: tuple[str, ...] = get_args(DefectionCandidate)


class TrainParams(_Section):
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)
    # The transition model's own shrinkage (None: lightgbm.learning_rate): it boosts
    # one tree per stage and round, so its rounds are what scoring pays for.
    transition_learning_rate: float | None = Field(default=0.2, gt=0, le=1)
    # The value model's own shrinkage (None: lightgbm.learning_rate): its trees are
    # walked for every scored customer too.
    value_learning_rate: float | None = Field(default=0.1, gt=0, le=1)
    calibration_fraction: float = Field(default=0.5, gt=0, lt=1)
    effects: EffectSettings = Field(default_factory=EffectSettings)
    bgnbd_features: Literal["auto", "always", "never"] = "auto"
    defection_candidates: list[DefectionCandidate] = Field(
        default_factory=lambda: list(DEFECTION_CANDIDATES), min_length=1)
    experiment: str = Field(default="lifecycle-churn", min_length=1)
    registered_model: str = "lifecycle-churn"

    @field_validator("registered_model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        # The name goes into models:/<name>@<alias> and models:/<name>/<version>.
        if not value.strip() or any(c in value for c in "/@:"):
            raise ValueError(f"must be a non-empty name without '/', "
                             f"'@' or ':' (it is written in models:/<name>@champion URIs), "
                             f"got {value!r}")
        return value

    @field_validator("defection_candidates")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"names each candidate once; {repeated} repeated")
        return value


class EvaluateParams(_Section):
    bootstrap_samples: int = Field(default=1000, ge=100)
    seed: int = 0
    promotion: PromotionRule = Field(default_factory=PromotionRule)


class ValueTiersParams(_Section):
    """How predicted value is cut into tiers (``models.actions.ValueTiers``)."""

    method: Literal["quantile", "absolute"] = "quantile"
    cuts: Pair = (0.5, 0.8)
    rank_prospects_separately: bool = True  # quantile only; ignored with absolute cuts

    @model_validator(mode="after")
    def _cuts(self) -> ValueTiersParams:
        low, high = self.cuts
        if not low < high:
            raise ValueError(f"score.value_tiers.cuts must increase strictly, got "
                             f"{list(self.cuts)}")
        if self.method == "quantile" and not (low > 0 and high < 1):
            raise ValueError(f"score.value_tiers.cuts are population shares with method "
                             f"'quantile' and must lie strictly between 0 and 1, got "
                             f"{list(self.cuts)}")
        return self


class PolicyRuleParams(_Section):
    """One rule of the action policy (``models.actions.PolicyRule``)."""

    name: str = Field(min_length=1)
    stage: str | list[str]
    risk: str | list[str]
    value: str | list[str]
    action: str
    why: str = Field(min_length=1)


def _default_policy() -> list[PolicyRuleParams]:
    from models.actions import DEFAULT_RULES

    return [PolicyRuleParams.model_validate(rule) for rule in DEFAULT_RULES]


class DriftParams(_Section):
    """The drift check of scoring: population stability index against the training
    reference (``models.drift``)."""

    bins: int = Field(default=10, ge=2, le=100)
    threshold: float = Field(default=0.2, gt=0)


class PostgresSinkParams(_Section):
    """Where the PostgreSQL sink writes. The URL (SQLAlchemy form, e.g.
    ``postgresql+psycopg://user:password@host:5432/db``) may instead come from the
    environment variable ``CHURN_POSTGRES_URL``, which wins; no URL: no PostgreSQL sink."""

    url: str | None = Field(default=None, repr=False)
    db_schema: str = Field(default="public", alias="schema")
    table: str = "customer_scores"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("postgresql://", "postgresql+", "postgres://")):
            raise ValueError(f"must be a PostgreSQL URL such as "
                             f"postgresql+psycopg://user@host:5432/db, got {mask_url(value)!r}")
        # params.yaml is versioned, and dvc.lock records the score params.
        _refuse_password(value, "params.yaml and dvc.lock are versioned: put the URL with its "
                                "password in the environment variable CHURN_POSTGRES_URL "
                                "instead, or leave the password out of the URL and give it to "
                                "PostgreSQL through PGPASSWORD or ~/.pgpass")
        return value

    @field_validator("db_schema", "table")
    @classmethod
    def _identifier(cls, value: str, info: Any) -> str:
        what = "schema" if info.field_name == "db_schema" else "table"
        return check_identifier(value, what)

    @property
    def resolved_url(self) -> str | None:
        return os.environ.get("CHURN_POSTGRES_URL") or self.url


class SinksParams(_Section):
    """The sinks the scores go to: the Parquet dataset and the DuckDB file by default."""

    parquet: bool = True
    duckdb: bool = True
    postgres: PostgresSinkParams = Field(default_factory=PostgresSinkParams)
    # How long a write waits for a DuckDB file another process holds open.
    lock_timeout_seconds: float = Field(default=60.0, ge=0, le=MAX_WAIT_SECONDS)


class BudgetParams(Budget):
    """The budget of a scoring run (``models.contacts.Budget``), with the project's default:
    2,000 contacts, 4% of the default demo's customers."""

    contacts: StrictInt | None = Field(default=2000, ge=0)


class ScoreParams(_Section):
    as_of: dt.date | None = None  # null: the day after the last event of the clean tables
    # A date more than labels.horizon_days after the last event is refused unless forced.
    force_as_of: bool = False
    model_uri: str | None = None  # null: models:/<train.registered_model>@champion
    chunk_rows: int = Field(default=50_000, ge=1_000)
    workers: int = Field(default=2, ge=1)
    reason_method: Literal["path", "treeshap"] = "path"
    drift: DriftParams = Field(default_factory=DriftParams)
    sinks: SinksParams = Field(default_factory=SinksParams)
    risk_bands: RiskBands = Field(default_factory=RiskBands)
    value_tiers: ValueTiersParams = Field(default_factory=ValueTiersParams)
    policy: list[PolicyRuleParams] = Field(default_factory=_default_policy)
    economics: Economics = Field(default_factory=Economics)
    budget: BudgetParams = Field(default_factory=BudgetParams)

    @field_validator("model_uri")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is not None:
            _refuse_password(value, "it would be written to reports/score.json and MLflow: give "
                                    "the registry's credentials through MLFLOW_TRACKING_USERNAME "
                                    "and MLFLOW_TRACKING_PASSWORD")
        return value

    @model_validator(mode="after")
    def _policy_complete(self) -> ScoreParams:
        # Every (stage, risk, value tier) must get exactly one action: checked on load.
        from models.actions import ActionPolicy, PolicyError

        try:
            ActionPolicy.from_rules([rule.model_dump() for rule in self.policy])
        except PolicyError as err:
            raise ValueError(f"score.policy: {err}") from None
        return self


class Params(_Section):
    generate: GenerateParams
    data: DataParams
    validate_: ValidateParams = Field(default_factory=ValidateParams, alias="validate")
    features: FeaturesParams = Field(default_factory=FeaturesParams)
    stages: StageRules = Field(default_factory=StageRules)
    labels: LabelsParams = Field(default_factory=LabelsParams)
    train: TrainParams = Field(default_factory=TrainParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    score: ScoreParams = Field(default_factory=ScoreParams)

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        unknown = set(self.features.resolution_kinds) - set(self.data.interaction_kinds)
        if unknown:
            raise ValueError(
                f"features.resolution_kinds names kinds that are not in data.interaction_kinds: "
                f"{sorted(unknown)}"
            )
        return self

