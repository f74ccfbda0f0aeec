"""Every table of the pipeline, declared once.

The input contract (what a company hands over), the clean tables written by
validation, and the feature table are declared here as :class:`Table` objects.
Validation, the feature engines, the data dictionary and the tests all read
these declarations; nothing else spells out column lists.

Dtypes are Arrow type names (``string``, ``double``, ``int64``, ``bool``,
``timestamp[us]``, ``date32``) so that one declaration serves Parquet, DuckDB,
pandas and Spark alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

#: Customers are spread over this many hash partitions. Validation stores the
#: partition of every row in the ``bucket`` column (a stable MD5 hash of the
#: customer id, identical on every engine); the feature engines process
#: contiguous ranges of partitions so that memory depends on the size of a
#: range, not on the size of the data.
N_PARTITIONS = 1024

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "double": pa.float64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "int16": pa.int16(),
    "bool": pa.bool_(),
    "timestamp[us]": pa.timestamp("us"),
    "date32": pa.date32(),
}

_DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int64": "BIGINT",
    "int32": "INTEGER",
    "int16": "SMALLINT",
    "bool": "BOOLEAN",
    "timestamp[us]": "TIMESTAMP",
    "date32": "DATE",
}


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow dtype, whether it must be present, and its meaning."""

    name: str
    dtype: str
    description: str
    required: bool = True
    family: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in _ARROW_TYPES:
            raise ValueError(f"column {self.name!r}: unknown dtype {self.dtype!r}")

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.dtype]

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self.dtype]


@dataclass(frozen=True)
class Table:
    """A named, ordered collection of columns."""

    name: str
    description: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def optional(self) -> list[str]:
        return [c.name for c in self.columns if not c.required]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def dtypes(self) -> dict[str, str]:
        """Column -> Arrow dtype name, in order (what a model records as its input schema)."""
        return {c.name: c.dtype for c in self.columns}

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])


# --------------------------------------------------------------------------
# Input contract: what a company provides (before validation).
# --------------------------------------------------------------------------

#: The interaction kind of a retention contact: the company chose the customer for an
#: action (``action``) and either made the contact or, for a random control group,
#: held it out (``control``). Past contacts with their control group are what an
#: action's effect can be learned from.
RETENTION_CONTACT = "retention_contact"
#: The actions that spend, the ``action`` of a retention contact: the domain's seven
#: strategies but ``harvest`` and ``end`` (``models.economics.SPEND_ACTIONS``).
CONTACT_ACTIONS: tuple[str, ...] = ("start", "protect", "re_engineer", "enhance", "regain")

TRANSACTIONS = Table(
    "transactions",
    "One row per purchase or refund. Required.",
    (
        Column("customer_id", "string",
               "Customer identifier, kept as text (leading zeros matter)."),
        Column("timestamp", "timestamp[us]", "When the transaction happened."),
        Column("amount", "double", "Amount paid; negative for a refund."),
        Column("transaction_id", "string", "Identifier of the transaction.", required=False),
        Column("quantity", "double", "Number of items.", required=False),
        Column("channel", "string", "Sales channel (store, web, app, ...).", required=False),
        Column("category", "string", "Product category.", required=False),
        Column("discount", "double", "Discount granted on the transaction.", required=False),
    ),
)

INTERACTIONS = Table(
    "interactions",
    "One row per contact between the customer and the company. Optional.",
    (
        Column("customer_id", "string", "Customer identifier, kept as text."),
        Column("timestamp", "timestamp[us]", "When the interaction happened."),
        Column("kind", "string", "Kind of interaction, from the vocabulary in params."),
        Column("channel", "string", "Contact channel (phone, email, chat, ...).", required=False),
        Column("satisfaction", "double", "Satisfaction score, within the range in params.",
               required=False),
        Column("resolved", "bool", "Whether the ticket or complaint was resolved.",
               required=False),
        Column("resolution_hours", "double", "Hours until resolution.", required=False),
        Column("action", "string", f"For kind {RETENTION_CONTACT}: the action the customer was "
               f"chosen for, one of {', '.join(CONTACT_ACTIONS)}. Null on other kinds.",
               required=False),
        Column("control", "bool", f"For kind {RETENTION_CONTACT}: true when the customer was "
               "chosen for the action but randomly held out (nothing was sent); empty means "
               "false. Null on other kinds.", required=False),
    ),
)

CUSTOMERS = Table(
    "customers",
    "One row per known customer. Optional.",
    (
        Column("customer_id", "string", "Customer identifier, kept as text."),
        Column("signup_date", "timestamp[us]", "When the customer became known (first seen).",
               required=False),
        Column("segment", "string", "Customer type or segment.", required=False),
        Column("relationship_type", "string", "Relationship type (self-service, account "
               "manager, ...).", required=False),
    ),
)

INPUT_TABLES: dict[str, Table] = {t.name: t for t in (TRANSACTIONS, INTERACTIONS, CUSTOMERS)}

# --------------------------------------------------------------------------
# Clean tables written by validation: every contract column (optional ones
# filled with nulls when absent), plus lineage and the partition key.
# --------------------------------------------------------------------------

_LINEAGE = (
    Column("customer_key", "int64", "Dense integer key of the customer in this validated data "
           "set: the rank of (bucket, customer_id) among the customers of all clean tables, "
           "from 0 (see customer_index)."),
    Column("bucket", "int32", f"Hash partition of the customer (0 to {N_PARTITIONS - 1})."),
    Column("source_file", "string", "File the row was read from."),
    Column("source_line", "int64", "Line (CSV, 1 = header) or row number (Parquet) in that file."),
)


def _clean(table: Table, extra: Sequence[Column] = ()) -> Table:
    columns = tuple(
        Column(c.name, c.dtype, c.description, required=True) for c in table.columns
    )
    return Table(f"clean_{table.name}", f"Validated {table.name}.",
                 columns + tuple(extra) + _LINEAGE)


CLEAN_TRANSACTIONS = _clean(
    TRANSACTIONS,
    (Column("is_refund", "bool", "True when the amount is negative (a refund)."),),
)
CLEAN_INTERACTIONS = _clean(INTERACTIONS)
CLEAN_CUSTOMERS = _clean(CUSTOMERS)

CLEAN_TABLES: dict[str, Table] = {
    "transactions": CLEAN_TRANSACTIONS,
    "interactions": CLEAN_INTERACTIONS,
    "customers": CLEAN_CUSTOMERS,
}

CUSTOMER_INDEX = Table(
    "customer_index",
    "Every customer of the clean tables, once, in (bucket, customer_id) order.",
    (
        Column("customer_key", "int64", "Dense integer key (row number from 0)."),
        Column("customer_id", "string", "Customer identifier, as in the inputs."),
        Column("bucket", "int32", f"Hash partition of the customer (0 to {N_PARTITIONS - 1})."),
    ),
)

GROUND_TRUTH = Table(
    "ground_truth",
    "Latent state of every known customer at 00:00 of each month start (simulator only; "
    "read by evaluation, never by features).",
    (
        Column("customer_id", "string", "Customer identifier."),
        Column("month", "timestamp[us]", "First day of the month, 00:00."),
        Column("alive", "bool", "Latent state at that instant: active buyer or prospect still "
               "in the market (not defected, or come back)."),
        Column("p_defect", "double", "True probability of no purchase on the days "
               "[month, month + horizon) (labels.horizon_days), with the latent state frozen "
               "at month (docs/simulator.md); for a customer contacted at month, without the "
               "contact."),
        Column("is_buyer", "bool", "Has bought before month."),
        Column("expected_spend", "double", "True expected spend on the days [month, month + "
               "horizon), before discounts and refunds, with the latent state frozen."),
        Column("response", "string", "How the customer answers the company's actions: "
               "persuadable, unmoved (a sure thing or a lost cause) or sleeping_dog (a contact "
               "drives it away)."),
        *(Column(f"effect_{action}", "double", f"True effect of {action} on the horizon's "
                 + ("spend (relative lift)." if action in ("start", "enhance") else
                    "defection probability (share removed; negative raises it)."))
          for action in CONTACT_ACTIONS),
        Column("contact_action", "string", f"The action of the {RETENTION_CONTACT} the "
               "simulated company recorded for the customer at month (docs/simulator.md); null "
               "when the customer was not chosen that month.", required=False),
        Column("contact_control", "bool", "True when that contact was held out (the control "
               "group), false when it was made; null when the customer was not chosen.",
               required=False),
    ),
)

QUARANTINE = Table(
    "quarantine",
    "Input rows that were not used, each with the rule it broke.",
    (
        Column("table", "string", "Input table the row came from."),
        Column("source_file", "string", "File the row was read from."),
        Column("source_line", "int64", "Line (CSV, 1 = header) or row number (Parquet)."),
        Column("rule", "string", "Identifier of the validation rule the row broke."),
        Column("reason", "string", "What was wrong, in words, with the offending value."),
        Column("raw", "string", "The raw row as read, as JSON text."),
    ),
)


# --------------------------------------------------------------------------
# Scored customers: what the scoring stage writes to every sink.
# --------------------------------------------------------------------------

#: Number of reason columns (``reason_1`` ... ``reason_N``) of a scored row.
N_REASONS = 3

CUSTOMER_SCORES = Table(
    "customer_scores",
    "One row per customer and scoring date (as_of): stage, risk, value, action and reasons.",
    (
        Column("customer_id", "string", "Customer identifier, as in the inputs."),
        Column("as_of", "date32", "Scoring date: features see only events on days before it."),
        Column("stage", "string", "Lifecycle stage as of the date (stage rules of the model)."),
        Column("next_stage", "string", "Most likely stage at the end of the horizon."),
        Column("p_next_stage", "double", "Probability of next_stage."),
        Column("p_defect", "double", "Calibrated probability of no purchase in the horizon; "
               "null for prospects (never bought).", required=False),
        Column("risk_label", "string", "low / medium / high / critical, from p_defect and the "
               "risk bands; null for prospects.", required=False),
        Column("predicted_value", "double", "Expected spend in the horizon."),
        Column("value_at_risk", "double", "p_defect x predicted_value: the spend expected to be "
               "lost if the customer defects; null for prospects.", required=False),
        Column("value_tier", "string", "low / medium / high, from predicted_value and the "
               "value tiers."),
        Column("action", "string", "Suggested strategy: start, protect, re_engineer, enhance, "
               "harvest, end or regain."),
        Column("action_rule", "string", "What decided the action: net_value (the costed "
               "action of highest expected net value), no_spend_pays (no costed action the "
               "stage allows pays), stage_allows_no_spend, budget (it paid, but the budget went "
               "to better contacts), or, with score.economics.mode rules, the name of the "
               "policy rule."),
        Column("expected_net_value", "double", "Expected value the action saves or adds "
               "(margin x spend) minus its expected cost; 0 for harvest and end."),
        Column("action_cost", "double", "Expected cost of the action: cost per contact plus "
               "the incentive times the probability it is taken; 0 for harvest and end."),
        Column("contact_rank", "int64", "Order of the contact within the budget of the "
               "scoring run (1 first); null when the customer is not contacted.",
               required=False),
        *(Column(f"reason_{i}", "string", f"Reason {i} (of the top {N_REASONS}) raising the "
                 "customer's defection risk, in words; null when fewer apply or for prospects.",
                 required=False)
          for i in range(1, N_REASONS + 1)),
        Column("model_name", "string", "Registered model that scored the row."),
        Column("model_version", "string", "Its registered version; null when the model was "
               "loaded from a run or a folder rather than the registry.", required=False),
        Column("run_id", "string", "MLflow run that trained it; null when unknown.",
               required=False),
        Column("scored_at", "timestamp[us]", "When the row was scored (UTC)."),
    ),
)
