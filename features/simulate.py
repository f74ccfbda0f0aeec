"""Seeded demo lifecycle simulator: the pipeline's embedded default data source.

A discrete-time (one step per day) simulation of a retail customer base, vectorized over
customers with numpy. Customers are acquired over the simulated period; prospects browse
and ask questions before some of them buy; buyers purchase at a heterogeneous latent rate
(gamma-distributed, as in the BG/NBD and Pareto/NBD literature) and spend at a
heterogeneous level (Gamma-Gamma); every buyer carries a latent defection hazard that
rises with unresolved complaints, slow ticket resolution, low satisfaction and falling
engagement, and falls with proactive contact from the company. Lost customers stop
buying but can come back. The generative story and every constant are documented in
``docs/simulator.md``.

Two pure functions make up the public interface:

* :func:`simulate` returns the customers, transactions and interactions as typed frames
  (contract column names), plus the latent ground truth per customer and month;
* :func:`render_csv_tables` turns those frames into text tables in the input-contract
  format, with a few deterministic data-quality warts for the validation stage.

Neither reads files or parameters; the DVC stage ``pipeline/generate.py`` does the I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import CUSTOMERS, GROUND_TRUTH, INTERACTIONS, TRANSACTIONS, Table

# --------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------

#: Customer types of the domain model, in the order of the segment tables below.
SEGMENTS: tuple[str, ...] = (
    "loyal", "discount_driven", "impulsive", "need_oriented", "wanderer", "high_volume",
)
#: Relationship types, in the order of the relationship tables below.
RELATIONSHIP_TYPES: tuple[str, ...] = (
    "transactional", "long_term", "personal_assistance", "dedicated_account_manager",
    "self_service", "automated", "community",
)
#: Interaction kinds the story knows how to generate.
STORY_KINDS: tuple[str, ...] = (
    "support_ticket", "complaint", "survey", "email_open", "web_visit", "call",
)
SALES_CHANNELS: tuple[str, ...] = ("store", "web", "app", "phone")
CATEGORIES: tuple[str, ...] = (
    "grocery", "home", "apparel", "electronics", "beauty", "sports", "toys", "books",
)
_CATEGORY_WEIGHTS = np.array([0.22, 0.16, 0.16, 0.10, 0.12, 0.10, 0.07, 0.07])
#: Contact channels of the interactions.
CONTACT_CHANNELS: tuple[str, ...] = ("web", "app", "email", "chat", "phone", "store")

# --------------------------------------------------------------------------
# The story's constants (documented in docs/simulator.md)
# --------------------------------------------------------------------------

# Per segment, in the order of SEGMENTS.
_SEG_SHARE = np.array([0.15, 0.20, 0.13, 0.25, 0.19, 0.08])
_SEG_INTERVAL_DAYS = np.array([30.0, 45.0, 25.0, 60.0, 90.0, 12.0])  # mean 1 / purchase rate
_SEG_LIFETIME_DAYS = np.array([1800.0, 600.0, 450.0, 900.0, 350.0, 1500.0])  # 1 / base hazard
_SEG_SPEND = np.array([60.0, 35.0, 45.0, 55.0, 30.0, 110.0])  # median mean spend per order
_SEG_EXTRA_ITEMS = np.array([0.8, 1.0, 0.5, 0.6, 0.3, 4.0])  # items per order beyond the first
_SEG_DISCOUNT_USE = np.array([0.10, 0.65, 0.20, 0.10, 0.25, 0.15])
_SEG_IN_MARKET = np.array([0.90, 0.85, 0.85, 0.80, 0.55, 0.90])  # prospects who mean to buy
_SEG_INSTANT_BUY = np.array([0.35, 0.25, 0.55, 0.40, 0.15, 0.30])  # first seen at a purchase
_SEG_COMEBACK = np.array([1.0, 2.0, 1.5, 1.0, 1.5, 1.0])
_SEG_BROWSE = np.array([1.0, 1.3, 1.2, 0.7, 1.5, 0.8])
_SEG_OFFER_SENSITIVITY = np.array([0.5, 2.0, 1.0, 1.0, 1.5, 0.7])
# Probability of each relationship type given the segment (rows: SEGMENTS).
_REL_GIVEN_SEG = np.array([
    [0.15, 0.35, 0.15, 0.05, 0.15, 0.05, 0.10],
    [0.35, 0.05, 0.03, 0.01, 0.30, 0.16, 0.10],
    [0.35, 0.05, 0.05, 0.01, 0.30, 0.14, 0.10],
    [0.25, 0.20, 0.15, 0.03, 0.20, 0.07, 0.10],
    [0.35, 0.03, 0.02, 0.00, 0.35, 0.15, 0.10],
    [0.10, 0.20, 0.15, 0.40, 0.10, 0.03, 0.02],
])
_SEGMENT_RECORDED_RIGHT = 0.85  # the company's segmentation is right this often

# Per relationship type, in the order of RELATIONSHIP_TYPES.
_REL_THANKS = np.array([0.02, 0.15, 0.35, 0.60, 0.01, 0.0, 0.05])  # thank-you call after a sale
_REL_CHECKIN_PER_DAY = np.array([1 / 2000, 1 / 180, 1 / 90, 1 / 45, 1 / 3000, 0.0, 1 / 600])
_REL_FOLLOWUP = np.array([0.05, 0.30, 0.50, 0.80, 0.02, 0.0, 0.10])  # call after a complaint
_REL_SERVICE = np.array([0.0, 0.3, 0.6, 1.0, -0.3, -0.5, 0.0])  # service quality (log-odds)
_REL_SALES_CHANNEL = np.array([  # store, web, app, phone
    [0.50, 0.30, 0.15, 0.05],
    [0.45, 0.30, 0.15, 0.10],
    [0.50, 0.20, 0.10, 0.20],
    [0.30, 0.30, 0.10, 0.30],
    [0.15, 0.50, 0.35, 0.00],
    [0.05, 0.50, 0.45, 0.00],
    [0.30, 0.40, 0.30, 0.00],
])

# Prospects.
_CONVERSION_DAYS = 30.0  # mean wait to a first purchase for a prospect in the market
_WINDOW_SHOPPER_DAYS = 3000.0  # the same for a prospect not in the market
_PROSPECT_LAPSE_DAYS = 90.0  # mean time before a prospect loses interest
_PROSPECT_RETURN_DAYS = 4000.0  # a lapsed prospect comes back and buys
_FIRST_TOUCH = np.array([0.30, 0.60, 0.05, 0.05])  # record only, web visit, question, email
_PROSPECT_BROWSE = (4.0, 0.5)  # web visits relative to a buyer: in the market, window shopper
_EMAIL_CONSENT = 0.75  # share of customers who accept marketing e-mails
_CONVERSION_CARE = 0.5  # relative lift of conversion with full proactive care

# Buyers: heterogeneity and dynamics.
_RATE_SHAPE = 1.0  # gamma shape of the purchase rate across customers
_HAZARD_SHAPE = 2.0  # gamma shape of the base defection hazard across customers
_SPEND_SIGMA = 0.6  # lognormal sigma of the mean spend across customers
_SPEND_SHAPE = 3.0  # Gamma-Gamma shape of one item's price
_STAGE_EXTRA, _STAGE_DECAY = 2.5, 0.55  # hazard x (1 + 2.5 * 0.55 ** (purchases - 1))
_B_GRIEVANCE = 0.8  # log-hazard per unit of grievance
_B_SATISFACTION = 0.4  # log-hazard per standard deviation of (lower) satisfaction
_B_CARE = 0.8  # log-hazard reduction at full proactive care
_B_ENGAGEMENT = 0.5  # log-hazard per unit of (lower) engagement
_B_RATE_ENGAGEMENT = 0.3  # log purchase rate per unit of engagement
_SAT_PER_GRIEVANCE, _SAT_PER_CARE = 0.7, 0.3
_GRIEVANCE_HALF_LIFE, _CARE_HALF_LIFE = 180.0, 60.0
_ENGAGEMENT_REVERSION, _ENGAGEMENT_SD = 1 / 90, 0.6  # Ornstein-Uhlenbeck, daily step
_COMEBACK_DAYS = 2500.0  # mean time before a lost buyer comes back (times segment factor)
_B_COMEBACK_CARE = 0.7
_SHOCK_PER_DAY = 1 / 900  # a competitor's offer reaches a buyer (times segment factor)
_SHOCK_DAYS = (30, 61)  # it lasts this many days (uniform, upper bound excluded)
_SHOCK_HAZARD, _SHOCK_PURCHASE = 4.0, 0.5
_REACTIVATION_GRIEVANCE_KEPT = 0.3

# Interactions: daily rates by state code (0 lapsed prospect, 1 lost buyer, 2 prospect,
# 3 active buyer) and after-purchase probabilities.
_WEB_DAYS, _EMAIL_DAYS = 45.0, 30.0
_WEB_STATE = np.array([0.05, 0.15, 0.0, 1.0])  # prospects: _PROSPECT_BROWSE
_EMAIL_STATE = np.array([0.3, 0.3, 1.0, 1.0])
_TICKET_STATE = np.array([0.0, 1 / 3000, 1 / 300, 1 / 400])
_COMPLAINT_STATE = np.array([0.0, 1 / 8000, 0.0, 1 / 2500])
_CHECKIN_STATE = np.array([0.0, 1.0, 0.5, 1.0])
_AFTER_PURCHASE = {"complaint": (0.035, 2, 21), "ticket": (0.05, 1, 11), "survey": (0.12, 1, 8)}
_THANKS_DELAY = (1, 4)
_SURVEY_AFTER_SERVICE = 0.25
_TICKET_RESOLVED, _COMPLAINT_RESOLVED = 2.0, 0.6  # log-odds before service quality
_TICKET_HOURS, _COMPLAINT_HOURS = (8.0, 1.1), (20.0, 1.0)  # lognormal median, sigma
_TICKET_SLOW, _COMPLAINT_SLOW = 48.0, 72.0  # hours
_GRIEVANCE_TICKET = (0.4, 0.2, 0.0)  # unresolved, slow, fast
_GRIEVANCE_COMPLAINT = (1.5, 0.6, 0.15)
_ENGAGEMENT_COMPLAINT = (0.3, 0.1)  # unresolved, resolved
_REFUND_AFTER_COMPLAINT, _REFUND_OTHER = 0.40, 0.015
_REFUND_FULL = 0.7
_SURVEY_CENTER, _SURVEY_SCALE, _SURVEY_NOISE = 0.65, 0.22, 0.5

# Interaction channels by kind, over CONTACT_CHANNELS.
_KIND_CHANNELS = {
    "web_visit": [0.6, 0.4, 0, 0, 0, 0],
    "email_open": [0, 0, 1, 0, 0, 0],
    "support_ticket": [0, 0, 0.35, 0.40, 0.25, 0],
    "complaint": [0, 0, 0.30, 0.20, 0.40, 0.10],
    "survey": [0.3, 0, 0.7, 0, 0, 0],
    "call": [0, 0, 0, 0, 1, 0],
}

# Time of day: relative weight of each hour, by activity.
_HOURS = {
    "shop": [0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 1, 1.5, 2, 2.3,
             2.5, 2.3, 2, 2, 2.2, 2.6, 3, 3, 2.6, 1.8, 1, 0.5],
    "browse": [0.6, 0.4, 0.2, 0.1, 0.1, 0.2, 0.5, 1, 1.3, 1.5, 1.5, 1.6,
               1.8, 1.6, 1.5, 1.5, 1.6, 1.8, 2.2, 2.6, 2.8, 2.5, 1.8, 1.1],
    "email": [0.3, 0.2, 0.1, 0.1, 0.1, 0.3, 1, 2, 2.5, 2, 1.5, 1.3,
              1.5, 1.3, 1.2, 1.2, 1.2, 1.4, 1.8, 2, 2, 1.6, 1, 0.6],
    "service": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1.5, 1.6, 1.5, 1.2, 1.4, 1.5, 1.4,
                1.3, 1.1, 0.9, 0.7, 0.5, 0, 0, 0],
    "office": [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1.2, 1.2, 0.6, 0.8, 1.2, 1.2,
               1, 0.8, 0, 0, 0, 0, 0, 0],
}
_KIND_HOURS = {"web_visit": "browse", "email_open": "email", "support_ticket": "service",
               "complaint": "service", "survey": "email", "call": "office"}
_WEEKDAY = np.array([0.90, 0.90, 0.95, 1.00, 1.10, 1.25, 0.90])  # Monday first

# Data-quality warts: share of rows (at least one row each), by table.
WART_RATES: dict[str, dict[str, float]] = {
    "transactions": {"duplicate_rows": 1e-4, "null_channel": 1e-4, "null_category": 1e-4,
                     "bad_timestamp": 2e-5, "bad_amount": 2e-5, "empty_customer_id": 2e-5},
    "interactions": {"duplicate_rows": 1e-4, "null_channel": 1e-4, "bad_timestamp": 2e-5,
                     "empty_customer_id": 2e-5},
    "customers": {"duplicate_rows": 1e-4, "null_segment": 1e-4},
}
_BAD_TIMESTAMPS = ("2023-13-45 10:00:00", "not a date", "2022-02-30 08:15:00")
_BAD_AMOUNTS = ("abc", "12.3.4")
_WART_STREAM = 0x57A27  # second seed word of the wart generator, distinct from the story


@dataclass(frozen=True, eq=False)
class Simulation:
    """What :func:`simulate` returns.

    Attributes
    ----------
    customers, transactions, interactions
        Typed frames with exactly the contract columns of
        :data:`features.schema.CUSTOMERS`, :data:`~features.schema.TRANSACTIONS` and
        :data:`~features.schema.INTERACTIONS`, in that order, sorted by time (customers by id).
    ground_truth
        One row per customer and month start after the customer became known:
        ``customer_id``, ``month``, ``alive``, ``p_defect``, ``is_buyer``. Latent: no
        feature may read it.
    latent
        Counts of latent events (conversions, defections, reactivations, ...).
    satisfaction_range
        The survey scale the scores were drawn on.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    interactions: pd.DataFrame
    ground_truth: pd.DataFrame
    latent: dict[str, int] = field(default_factory=dict)
    satisfaction_range: tuple[float, float] = (1.0, 5.0)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def simulate(
    *,
    n_customers: int,
    n_days: int,
    start_date: dt.date,
    seed: int,
    interaction_kinds: Sequence[str] = STORY_KINDS,
    satisfaction_range: tuple[float, float] = (1.0, 5.0),
    horizon_days: int = 90,
) -> Simulation:
    """Simulate a customer base day by day.

    Parameters
    ----------
    n_customers
        Customers (prospects and buyers) acquired over the period.
    n_days
        Length of the simulated period in days, starting at ``start_date`` 00:00.
    start_date
        First simulated day.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frames.
    interaction_kinds
        Kinds written to the interactions frame; each must be one of :data:`STORY_KINDS`.
        Story kinds left out still happen (they drive the latent state) but are not recorded.
    satisfaction_range
        ``(low, high)`` of the survey scale; scores are ``low``, ``low + 1``, ... ``high``.
    horizon_days
        Horizon of the ground-truth defection probability ``p_defect``.

    Returns
    -------
    Simulation
        customers (customer_id, signup_date, segment, relationship_type); transactions
        (customer_id, timestamp, amount, transaction_id, quantity, channel, category,
        discount; refunds have negative amount and quantity); interactions (customer_id,
        timestamp, kind, channel, satisfaction, resolved, resolution_hours); ground_truth
        (customer_id, month, alive, p_defect, is_buyer).

    Raises
    ------
    ValueError
        If a size is not positive, a kind is not part of the story, or the survey
        range is empty.
    """
    kinds = list(interaction_kinds)
    unknown = sorted(set(kinds) - set(STORY_KINDS))
    if unknown:
        raise ValueError(f"interaction kinds {unknown} are not part of the simulator's story; "
                         f"it can generate {list(STORY_KINDS)}")
    if n_customers <= 0 or n_days <= 0 or horizon_days <= 0:
        raise ValueError(f"n_customers, n_days and horizon_days must be positive, got "
                         f"{n_customers}, {n_days}, {horizon_days}")
    lo, hi = (float(v) for v in satisfaction_range)
    if not lo < hi:
        raise ValueError(f"satisfaction_range must be (low, high) with low < high, "
                         f"got {satisfaction_range}")

    rng = np.random.default_rng(seed)
    season = _calendar(start_date, n_days + horizon_days)
    pop = _Population.draw(rng, n_customers, n_days)
    log = _run(rng, pop, n_days=n_days, season=season, horizon_days=horizon_days,
               month_days=_month_starts(start_date, n_days), satisfaction=(lo, hi))

    epoch = int(np.datetime64(start_date, "s").astype(np.int64))
    ids = _customer_ids(n_customers)
    signup_tod = _signup_time_of_day(rng, pop)
    transactions = _transactions(rng, pop, log, ids, epoch, signup_tod, n_days)
    interactions = _interactions(rng, log, ids, epoch, signup_tod, pop.signup, kinds)
    customers = _customers(rng, pop, ids, epoch, signup_tod)
    ground_truth = _ground_truth(log, ids, start_date)
    latent = dict(log.counts)
    latent["buyers"] = int(log.ever_bought.sum())
    latent["prospects"] = int(n_customers - latent["buyers"])
    return Simulation(customers=customers, transactions=transactions,
                      interactions=interactions, ground_truth=ground_truth,
                      latent=latent, satisfaction_range=(lo, hi))


def render_csv_tables(
    sim: Simulation,
    *,
    seed: int,
    wart_rates: dict[str, dict[str, float]] | None = None,
) -> tuple[dict[str, pa.Table], dict[str, dict[str, int]]]:
    """Format the simulated frames as contract CSV text and inject data-quality warts.

    Every column becomes text: timestamps as ISO 8601 ``YYYY-MM-DD HH:MM:SS`` without
    offset, amounts and discounts with two decimals, quantities and scores as integers,
    ``resolved`` as ``true``/``false``, nulls as empty strings. Then, at rows chosen with
    ``numpy.random.default_rng((seed, ...))`` (disjoint, so every wart is countable):
    exact duplicate rows (placed right after the original), nulls in optional columns,
    unparseable timestamps and amounts, and empty customer ids.

    Parameters
    ----------
    sim
        The output of :func:`simulate`.
    seed
        Seed of the warts (use the simulation's seed).
    wart_rates
        Share of rows per table and wart (at least one row each); default
        :data:`WART_RATES`. A wart set to 0 is not injected.

    Returns
    -------
    tables
        ``{"transactions", "interactions", "customers"}`` to Arrow tables of strings
        with the contract columns in contract order.
    warts
        Per table: the number of rows of each wart injected, the number of refund rows
        (transactions) and the number of rows written (``rows``).
    """
    rates = WART_RATES if wart_rates is None else wart_rates
    rng = np.random.default_rng((seed, _WART_STREAM))
    lo, hi = sim.satisfaction_range
    score_decimals = 0 if float(lo).is_integer() and float(hi).is_integer() else 1
    tx, it, cu = sim.transactions, sim.interactions, sim.customers
    text = {
        "transactions": _contract(TRANSACTIONS, {
            "customer_id": _strings(tx["customer_id"]),
            "timestamp": _timestamps(tx["timestamp"]),
            "amount": _fixed(tx["amount"].to_numpy(), 2),
            "transaction_id": _strings(tx["transaction_id"]),
            "quantity": _fixed(tx["quantity"].to_numpy(), 0),
            "channel": _strings(tx["channel"]),
            "category": _strings(tx["category"]),
            "discount": _fixed(tx["discount"].to_numpy(), 2),
        }),
        "interactions": _contract(INTERACTIONS, {
            "customer_id": _strings(it["customer_id"]),
            "timestamp": _timestamps(it["timestamp"]),
            "kind": _strings(it["kind"]),
            "channel": _strings(it["channel"]),
            "satisfaction": _fixed(it["satisfaction"].to_numpy(np.float64, na_value=np.nan),
                                   score_decimals),
            "resolved": pa.array(it["resolved"], pa.bool_()).cast(pa.string()),
            "resolution_hours": _fixed(
                it["resolution_hours"].to_numpy(np.float64, na_value=np.nan), 1),
        }),
        "customers": _contract(CUSTOMERS, {
            "customer_id": _strings(cu["customer_id"]),
            "signup_date": _timestamps(cu["signup_date"]),
            "segment": _strings(cu["segment"]),
            "relationship_type": _strings(cu["relationship_type"]),
        }),
    }
    out: dict[str, pa.Table] = {}
    counts: dict[str, dict[str, int]] = {}
    for name in ("transactions", "interactions", "customers"):
        out[name], counts[name] = _inject_warts(text[name], rates.get(name, {}), rng)
    counts["transactions"]["refund_rows"] = int((tx["amount"] < 0).sum())
    return out, counts


# --------------------------------------------------------------------------
# Population: the latent traits drawn once per customer
# --------------------------------------------------------------------------


@dataclass(eq=False)
class _Population:
    n: int
    signup: np.ndarray  # day the customer becomes known, sorted
    segment: np.ndarray
    relationship: np.ndarray
    rate: np.ndarray  # purchase rate per day once a buyer
    hazard: np.ndarray  # base defection hazard per day
    spend: np.ndarray  # mean amount per order
    extra_items: np.ndarray
    satisfaction: np.ndarray  # latent satisfaction, standard normal
    conversion: np.ndarray  # first-purchase rate per day as a prospect
    lapse: np.ndarray
    comeback: np.ndarray
    prospect_return: np.ndarray
    instant: np.ndarray  # first seen at a purchase
    first_touch: np.ndarray  # 0 record, 1 web visit, 2 question, 3 email
    web: np.ndarray
    prospect_browse: np.ndarray
    email: np.ndarray
    channel: np.ndarray  # preferred sales channel
    category: np.ndarray  # favourite category
    offer: np.ndarray  # competitor offers per day

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, n_days: int) -> _Population:
        # Acquisition accelerates: density on the period grows linearly to twice its start.
        growth = 1.0
        u = rng.random(n)
        x = (np.sqrt(1.0 + 2.0 * growth * u * (1.0 + growth / 2.0)) - 1.0) / growth
        signup = np.sort(np.minimum((x * n_days).astype(np.int32), n_days - 1))
        seg = rng.choice(len(SEGMENTS), size=n, p=_SEG_SHARE)
        rel = _choice_rows(rng, _REL_GIVEN_SEG[seg])
        in_market = rng.random(n) < _SEG_IN_MARKET[seg]
        conversion = np.where(in_market, 1 / _CONVERSION_DAYS, 1 / _WINDOW_SHOPPER_DAYS)
        return cls(
            n=n,
            signup=signup,
            segment=seg,
            relationship=rel,
            rate=rng.gamma(_RATE_SHAPE, 1.0 / (_RATE_SHAPE * _SEG_INTERVAL_DAYS[seg])),
            hazard=rng.gamma(_HAZARD_SHAPE, 1.0 / (_HAZARD_SHAPE * _SEG_LIFETIME_DAYS[seg])),
            spend=_SEG_SPEND[seg] * rng.lognormal(0.0, _SPEND_SIGMA, n),
            extra_items=_SEG_EXTRA_ITEMS[seg],
            satisfaction=rng.standard_normal(n),
            conversion=conversion * rng.gamma(1.0, 1.0, n),
            lapse=np.full(n, 1 / _PROSPECT_LAPSE_DAYS) * _SEG_BROWSE[seg],
            comeback=_SEG_COMEBACK[seg] / _COMEBACK_DAYS,
            prospect_return=np.full(n, 1 / _PROSPECT_RETURN_DAYS),
            instant=rng.random(n) < _SEG_INSTANT_BUY[seg],
            first_touch=rng.choice(len(_FIRST_TOUCH), size=n, p=_FIRST_TOUCH),
            web=_SEG_BROWSE[seg] / _WEB_DAYS * rng.lognormal(-0.18, 0.6, n),
            prospect_browse=np.where(in_market, *_PROSPECT_BROWSE),
            email=(rng.random(n) < _EMAIL_CONSENT) / _EMAIL_DAYS * rng.lognormal(-0.32, 0.8, n),
            channel=_choice_rows(rng, _REL_SALES_CHANNEL[rel]),
            category=rng.choice(len(CATEGORIES), size=n, p=_CATEGORY_WEIGHTS),
            offer=_SHOCK_PER_DAY * _SEG_OFFER_SENSITIVITY[seg],
        )


@dataclass(eq=False)
class _State:
    """The latent state that changes from day to day."""

    alive: np.ndarray
    purchases: np.ndarray
    since_return: np.ndarray  # purchases since acquisition or the last reactivation
    grievance: np.ndarray
    care: np.ndarray
    engagement: np.ndarray
    shock_end: np.ndarray  # a competitor's offer is active while day < shock_end

    @classmethod
    def empty(cls, n: int) -> _State:
        return cls(alive=np.zeros(n, bool), purchases=np.zeros(n, np.int32),
                   since_return=np.zeros(n, np.int32), grievance=np.zeros(n),
                   care=np.zeros(n), engagement=np.zeros(n), shock_end=np.zeros(n, np.int32))


def _rates(pop: _Population, st: _State, k: int) -> tuple[np.ndarray, ...]:
    """Daily rates of the first ``k`` customers, before calendar and competitor effects.

    Returns (purchase, hazard, comeback, buyer, care): a buyer's purchase rate or a
    prospect's conversion rate; a buyer's defection hazard or a prospect's lapse rate;
    the rate at which a lost buyer (lapsed prospect) comes back with a purchase.
    """
    buyer = st.purchases[:k] > 0
    care = -np.expm1(-st.care[:k])  # saturates: many calls help little more than a few
    grievance, engagement = st.grievance[:k], st.engagement[:k]
    z_sat = pop.satisfaction[:k] - _SAT_PER_GRIEVANCE * grievance + _SAT_PER_CARE * care
    stage = 1.0 + _STAGE_EXTRA * _STAGE_DECAY ** np.maximum(st.since_return[:k] - 1, 0)
    log_risk = (_B_GRIEVANCE * grievance - _B_SATISFACTION * z_sat - _B_CARE * care
                - _B_ENGAGEMENT * engagement)
    hazard = np.where(buyer, pop.hazard[:k] * stage * np.exp(log_risk), pop.lapse[:k])
    purchase = np.where(buyer, pop.rate[:k] * np.exp(_B_RATE_ENGAGEMENT * engagement),
                        pop.conversion[:k] * (1.0 + _CONVERSION_CARE * care))
    comeback = (np.where(buyer, pop.comeback[:k], pop.prospect_return[:k])
                * np.exp(_B_COMEBACK_CARE * care))
    return purchase, hazard, comeback, buyer, care


def _p_no_purchase(alive: np.ndarray, purchase: np.ndarray, hazard: np.ndarray,
                   comeback: np.ndarray, shock_left: np.ndarray, season: np.ndarray
                   ) -> np.ndarray:
    """P(no purchase in the next ``len(season)`` days) with the latent state frozen.

    A two-state chain per customer (active, lost) stepped day by day with the same
    order of draws as the simulation: an active customer first may defect, then may
    buy; a lost one may come back, which is a purchase. The calendar and the remaining
    days of a competitor's offer are known in advance and applied.
    """
    a = alive.astype(np.float64)
    b = 1.0 - a
    shocked_any = shock_left.max(initial=0)
    q_plain = -np.expm1(-hazard)
    for j, s in enumerate(season):
        if j < shocked_any:
            on = shock_left > j
            p = -np.expm1(-purchase * s * np.where(on, _SHOCK_PURCHASE, 1.0))
            q = np.where(on, -np.expm1(-hazard * _SHOCK_HAZARD), q_plain)
        else:
            p = -np.expm1(-purchase * s)
            q = q_plain
        r = -np.expm1(-comeback * s)
        a, b = a * (1.0 - q) * (1.0 - p), a * q + b * (1.0 - r)
    return np.clip(a + b, 0.0, 1.0)


# --------------------------------------------------------------------------
# The daily loop
# --------------------------------------------------------------------------


@dataclass(eq=False)
class _Log:
    """Events recorded by the loop, as lists of per-day arrays."""

    purchase_cust: list[np.ndarray] = field(default_factory=list)
    purchase_day: list[np.ndarray] = field(default_factory=list)
    refund_pid: list[np.ndarray] = field(default_factory=list)
    refund_day: list[np.ndarray] = field(default_factory=list)
    events: dict[str, list[tuple[np.ndarray, ...]]] = field(
        default_factory=lambda: {k: [] for k in STORY_KINDS})
    truth: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {
        "conversions": 0, "defections": 0, "reactivations": 0, "prospect_lapses": 0,
        "prospect_returns": 0, "competitor_offers": 0})
    ever_bought: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _run(rng: np.random.Generator, pop: _Population, *, n_days: int, season: np.ndarray,
         horizon_days: int, month_days: np.ndarray, satisfaction: tuple[float, float]) -> _Log:
    n = pop.n
    st = _State.empty(n)
    log = _Log()
    due = {kind: np.full(n, -1, np.int32) for kind in ("complaint", "ticket", "survey", "call")}
    complaint_pid = np.full(n, -1, np.int64)  # the purchase a scheduled complaint is about
    last_pid = np.full(n, -1, np.int64)
    next_pid = 0
    g_decay = 0.5 ** (1 / _GRIEVANCE_HALF_LIFE)
    c_decay = 0.5 ** (1 / _CARE_HALF_LIFE)
    e_keep = 1.0 - _ENGAGEMENT_REVERSION
    e_sd = _ENGAGEMENT_SD * np.sqrt(2 * _ENGAGEMENT_REVERSION)
    checkin = _REL_CHECKIN_PER_DAY[pop.relationship]
    months = set(month_days.tolist())
    lo, hi = satisfaction
    k = 0
    for d in range(n_days):
        k0, k = k, int(np.searchsorted(pop.signup, d, side="right"))
        if d in months and k0 > 0:
            purchase, hazard, comeback, buyer, _ = _rates(pop, st, k0)
            left = np.maximum(st.shock_end[:k0] - d, 0) * buyer
            p = _p_no_purchase(st.alive[:k0], purchase, hazard, comeback, left,
                               season[d:d + horizon_days])
            log.truth.append((d, st.alive[:k0].copy(), p, buyer))
        if k == 0:
            continue
        st.alive[k0:k] = True  # newly known customers start as prospects in the market
        s = season[d]
        purchase, hazard, comeback, buyer, _ = _rates(pop, st, k)
        shocked = st.shock_end[:k] > d
        purchase = purchase * s * np.where(shocked, _SHOCK_PURCHASE, 1.0)
        hazard = np.where(shocked, hazard * _SHOCK_HAZARD, hazard)
        u = rng.random((9, k), dtype=np.float32)

        # State transitions and purchases.
        was_alive = st.alive[:k].copy()
        die = was_alive & (u[0] < -np.expm1(-hazard))
        buy = was_alive & ~die & (u[1] < -np.expm1(-purchase))
        back = ~was_alive & (u[2] < -np.expm1(-comeback * s))
        new = np.zeros(k, bool)
        new[k0:] = True
        instant = new & pop.instant[:k]
        die &= ~instant
        buy |= instant
        st.alive[:k] = (was_alive & ~die) | back
        log.counts["defections"] += int((die & buyer).sum())
        log.counts["prospect_lapses"] += int((die & ~buyer).sum())
        log.counts["reactivations"] += int((back & buyer).sum())
        log.counts["prospect_returns"] += int((back & ~buyer).sum())
        log.counts["conversions"] += int(((buy | back) & ~buyer).sum())
        back_idx = np.flatnonzero(back & buyer)
        st.grievance[back_idx] *= _REACTIVATION_GRIEVANCE_KEPT
        st.engagement[back_idx] = 0.0
        st.since_return[back_idx] = 0
        pidx = np.flatnonzero(buy | back)
        st.purchases[pidx] += 1
        st.since_return[pidx] += 1
        pids = next_pid + np.arange(pidx.size, dtype=np.int64)
        next_pid += pidx.size
        last_pid[pidx] = pids
        log.purchase_cust.append(pidx.astype(np.int32))
        log.purchase_day.append(np.full(pidx.size, d, np.int32))

        # Interactions of the day (at most one of each kind per customer and day).
        alive_now = st.alive[:k]
        code = alive_now.astype(np.int8) * 2 + (st.purchases[:k] > 0)
        boost = np.exp(st.engagement[:k])
        browse = np.where(code == 2, pop.prospect_browse[:k], _WEB_STATE[code])
        web = u[3] < -np.expm1(-pop.web[:k] * boost * browse)
        web |= new & ~instant & (pop.first_touch[:k] == 1)
        email = u[4] < -np.expm1(-pop.email[:k] * boost * _EMAIL_STATE[code])
        email |= new & ~instant & (pop.first_touch[:k] == 3)
        ticket = (u[5] < _TICKET_STATE[code]) | (due["ticket"][:k] == d)
        ticket |= new & ~instant & (pop.first_touch[:k] == 2)
        from_purchase = due["complaint"][:k] == d
        complaint = (u[6] < _COMPLAINT_STATE[code]) | from_purchase
        survey = due["survey"][:k] == d
        call = (u[7] < checkin[:k] * _CHECKIN_STATE[code]) | (due["call"][:k] == d)

        _record(log, "web_visit", np.flatnonzero(web), d)
        _record(log, "email_open", np.flatnonzero(email), d)
        ti = np.flatnonzero(ticket)
        resolved, hours = _service(rng, ti, pop, _TICKET_RESOLVED, _TICKET_HOURS)
        st.grievance[ti] += _grievance(resolved, hours, _TICKET_SLOW, _GRIEVANCE_TICKET)
        _record(log, "support_ticket", ti, d, resolved, hours)
        ci = np.flatnonzero(complaint)
        c_resolved, c_hours = _service(rng, ci, pop, _COMPLAINT_RESOLVED, _COMPLAINT_HOURS)
        st.grievance[ci] += _grievance(c_resolved, c_hours, _COMPLAINT_SLOW, _GRIEVANCE_COMPLAINT)
        unresolved_drop, resolved_drop = _ENGAGEMENT_COMPLAINT
        st.engagement[ci] -= np.where(c_resolved, resolved_drop, unresolved_drop)
        _record(log, "complaint", ci, d, c_resolved, c_hours)
        # A complaint about an order may end in a refund of that order.
        about = ci[from_purchase[ci] & (complaint_pid[ci] >= 0)]
        refund = about[rng.random(about.size) < _REFUND_AFTER_COMPLAINT]
        log.refund_pid.append(complaint_pid[refund])
        log.refund_day.append(d + rng.integers(1, 5, refund.size, dtype=np.int32))
        complaint_pid[ci] = -1
        # Follow-up calls after complaints, surveys after resolved service contacts.
        followup = ci[rng.random(ci.size) < _REL_FOLLOWUP[pop.relationship[ci]]]
        _schedule(due["call"], followup, d, rng, _THANKS_DELAY)
        served = np.concatenate([ti[resolved], ci[c_resolved]])
        _schedule(due["survey"], served[rng.random(served.size) < _SURVEY_AFTER_SERVICE],
                  d, rng, (1, 4))
        si = np.flatnonzero(survey)
        score = _survey_scores(rng, pop, st, si, lo, hi)
        _record(log, "survey", si, d, None, None, score)
        li = np.flatnonzero(call)
        st.care[li] += 1.0
        _record(log, "call", li, d)

        # After-purchase schedule: complaints, tickets, surveys, thank-you calls.
        r = rng.random((4, pidx.size))
        for j, (kind, (prob, lo_d, hi_d)) in enumerate(_AFTER_PURCHASE.items()):
            chosen = pidx[r[j] < prob]
            chosen = _schedule(due[kind], chosen, d, rng, (lo_d, hi_d))
            if kind == "complaint":
                complaint_pid[chosen] = last_pid[chosen]
        thanks = pidx[r[3] < _REL_THANKS[pop.relationship[pidx]]]
        _schedule(due["call"], thanks, d, rng, _THANKS_DELAY)

        # Competitor offers reach active buyers.
        active_buyer = alive_now & (st.purchases[:k] > 0) & ~shocked
        hit = np.flatnonzero(active_buyer & (u[8] < pop.offer[:k]))
        st.shock_end[hit] = d + rng.integers(*_SHOCK_DAYS, hit.size, dtype=np.int32)
        log.counts["competitor_offers"] += int(hit.size)

        # Memory fades; engagement drifts (Ornstein-Uhlenbeck).
        st.grievance[:k] *= g_decay
        st.care[:k] *= c_decay
        st.engagement[:k] = (st.engagement[:k] * e_keep
                             + e_sd * rng.standard_normal(k, dtype=np.float32))
    log.ever_bought = st.purchases > 0
    return log


def _record(log: _Log, kind: str, idx: np.ndarray, day: int, resolved: np.ndarray | None = None,
            hours: np.ndarray | None = None, score: np.ndarray | None = None) -> None:
    nan = np.full(idx.size, np.nan)
    log.events[kind].append((
        idx.astype(np.int32), np.full(idx.size, day, np.int32),
        np.full(idx.size, -1, np.int8) if resolved is None else resolved.astype(np.int8),
        nan if hours is None else hours,
        nan if score is None else score,
    ))


def _schedule(due: np.ndarray, idx: np.ndarray, day: int, rng: np.random.Generator,
              delay: tuple[int, int]) -> np.ndarray:
    """Schedule one event per customer after ``day``, unless one is already pending."""
    free = idx[due[idx] <= day]
    due[free] = day + rng.integers(delay[0], delay[1], free.size, dtype=np.int32)
    return free


def _service(rng: np.random.Generator, idx: np.ndarray, pop: _Population, log_odds: float,
             hours: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Outcome of tickets or complaints: resolved or not, and hours until resolution."""
    quality = _REL_SERVICE[pop.relationship[idx]]
    resolved = rng.random(idx.size) < 1.0 / (1.0 + np.exp(-(log_odds + quality)))
    median, sigma = hours
    spent = median * np.exp(-0.5 * quality + sigma * rng.standard_normal(idx.size))
    return resolved, np.where(resolved, np.round(np.maximum(spent, 0.1), 1), np.nan)


def _grievance(resolved: np.ndarray, hours: np.ndarray, slow: float,
               weights: tuple[float, float, float]) -> np.ndarray:
    unresolved, slow_w, fast_w = weights
    return np.where(~resolved, unresolved, np.where(hours > slow, slow_w, fast_w))


def _survey_scores(rng: np.random.Generator, pop: _Population, st: _State, idx: np.ndarray,
                   lo: float, hi: float) -> np.ndarray:
    """A noisy reading of the latent satisfaction on the survey scale."""
    care = -np.expm1(-st.care[idx])
    z = pop.satisfaction[idx] - _SAT_PER_GRIEVANCE * st.grievance[idx] + _SAT_PER_CARE * care
    frac = _SURVEY_CENTER + _SURVEY_SCALE * (z + _SURVEY_NOISE * rng.standard_normal(idx.size))
    return lo + np.round(np.clip(frac, 0.0, 1.0) * np.floor(hi - lo))


# --------------------------------------------------------------------------
# Assembling the frames
# --------------------------------------------------------------------------


def _transactions(rng: np.random.Generator, pop: _Population, log: _Log, ids: pa.Array,
                  epoch: int, signup_tod: np.ndarray, n_days: int) -> pd.DataFrame:
    cust = np.concatenate(log.purchase_cust)
    day = np.concatenate(log.purchase_day)
    m = cust.size
    extra = pop.extra_items[cust]
    quantity = 1 + rng.poisson(extra)
    # Gamma-Gamma: each item's price is gamma with the customer's scale, so that the
    # expected order value is the customer's mean spend.
    scale = pop.spend[cust] / (_SPEND_SHAPE * (1.0 + extra))
    gross = np.maximum(np.round(rng.gamma(_SPEND_SHAPE * quantity, scale) * 100), 50)
    holiday = _is_holiday_sale(day, epoch)
    use = rng.random(m) < np.minimum(_SEG_DISCOUNT_USE[pop.segment[cust]] * (1 + holiday), 0.95)
    rate = rng.choice(np.array([0.05, 0.10, 0.15, 0.20, 0.30]), size=m)
    discount = np.where(use, np.round(gross * rate), 0)
    paid = gross - discount
    channel = np.where(rng.random(m) < 0.75, pop.channel[cust],
                       _choice_rows(rng, _REL_SALES_CHANNEL[pop.relationship[cust]]))
    category = np.where(rng.random(m) < 0.55, pop.category[cust],
                        rng.choice(len(CATEGORIES), size=m, p=_CATEGORY_WEIGHTS))
    tod = _time_of_day(rng, "shop", m)

    # Refunds: after some complaints (logged), and a small share of other orders.
    other = np.flatnonzero(rng.random(m) < _REFUND_OTHER)
    pid = np.concatenate([*log.refund_pid, other])
    rday = np.concatenate([*log.refund_day, day[other] + rng.integers(1, 31, other.size)])
    pid, first = np.unique(pid, return_index=True)  # one refund per order at most
    rday = rday[first]
    keep = rday < n_days
    pid, rday = pid[keep], rday[keep].astype(np.int32)
    full = rng.random(pid.size) < _REFUND_FULL
    returned = np.where(full, quantity[pid], rng.integers(1, quantity[pid] + 1))
    refund = -np.round(paid[pid] * returned / quantity[pid])

    cust_all = np.concatenate([cust, cust[pid]])
    day_all = np.concatenate([day, rday])
    tod_all = np.concatenate([tod, _time_of_day(rng, "service", pid.size)])
    tod_all = _after_signup(tod_all, day_all, pop.signup[cust_all], signup_tod[cust_all])
    seconds = epoch + day_all.astype(np.int64) * 86400 + tod_all
    amount = np.concatenate([paid, refund]) / 100
    quantity_all = np.concatenate([quantity, -returned]).astype(np.float64)
    discount_all = np.concatenate([discount, np.zeros(pid.size)]) / 100
    channel_all = np.concatenate([channel, channel[pid]])
    category_all = np.concatenate([category, category[pid]])
    order = np.lexsort((np.arange(seconds.size), cust_all, seconds))
    width = max(8, len(str(order.size)))
    tid = pc.utf8_lpad(pa.array(np.arange(1, order.size + 1)).cast(pa.string()), width, "0")
    table = _contract(TRANSACTIONS, {
        "customer_id": ids.take(pa.array(cust_all[order])),
        "timestamp": pa.array(seconds[order] * 1_000_000, pa.timestamp("us")),
        "amount": amount[order],
        "transaction_id": pc.binary_join_element_wise("T", tid, ""),
        "quantity": quantity_all[order],
        "channel": pa.array(np.asarray(SALES_CHANNELS)[channel_all[order]]),
        "category": pa.array(np.asarray(CATEGORIES)[category_all[order]]),
        "discount": discount_all[order],
    })
    return table.to_pandas()


def _interactions(rng: np.random.Generator, log: _Log, ids: pa.Array, epoch: int,
                  signup_tod: np.ndarray, signup: np.ndarray, kinds: list[str]) -> pd.DataFrame:
    parts = []
    for code, kind in enumerate(STORY_KINDS):
        rows = log.events[kind]
        if kind not in kinds or not rows:
            continue
        cols = [np.concatenate([r[i] for r in rows]) for i in range(5)]
        cust, day = cols[0], cols[1]
        tod = _time_of_day(rng, _KIND_HOURS[kind], cust.size)
        channel = rng.choice(len(CONTACT_CHANNELS), size=cust.size,
                             p=np.asarray(_KIND_CHANNELS[kind]) / sum(_KIND_CHANNELS[kind]))
        parts.append((cust, day, tod, np.full(cust.size, code, np.int8), channel, *cols[2:]))
    if parts:
        cust, day, tod, kind, channel, resolved, hours, score = (
            np.concatenate(c) for c in zip(*parts, strict=True))
    else:
        cust = day = tod = np.zeros(0, np.int32)
        kind = channel = resolved = np.zeros(0, np.int8)
        hours = score = np.zeros(0)
    tod = _after_signup(tod, day, signup[cust], signup_tod[cust])
    seconds = epoch + day.astype(np.int64) * 86400 + tod
    order = np.lexsort((kind, cust, seconds))
    resolved = resolved[order]
    table = _contract(INTERACTIONS, {
        "customer_id": ids.take(pa.array(cust[order])),
        "timestamp": pa.array(seconds[order] * 1_000_000, pa.timestamp("us")),
        "kind": pa.array(np.asarray(STORY_KINDS)[kind[order]]),
        "channel": pa.array(np.asarray(CONTACT_CHANNELS)[channel[order]]),
        "satisfaction": pa.array(score[order], from_pandas=True),
        "resolved": pa.array(resolved == 1, mask=resolved < 0),
        "resolution_hours": pa.array(hours[order], from_pandas=True),
    })
    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def _customers(rng: np.random.Generator, pop: _Population, ids: pa.Array, epoch: int,
               signup_tod: np.ndarray) -> pd.DataFrame:
    # The company's segmentation is an estimate: sometimes it names another type.
    wrong = rng.random(pop.n) >= _SEGMENT_RECORDED_RIGHT
    other = (pop.segment + rng.integers(1, len(SEGMENTS), pop.n)) % len(SEGMENTS)
    recorded = np.where(wrong, other, pop.segment)
    seconds = epoch + pop.signup.astype(np.int64) * 86400 + signup_tod
    table = _contract(CUSTOMERS, {
        "customer_id": ids,
        "signup_date": pa.array(seconds * 1_000_000, pa.timestamp("us")),
        "segment": pa.array(np.asarray(SEGMENTS)[recorded]),
        "relationship_type": pa.array(np.asarray(RELATIONSHIP_TYPES)[pop.relationship]),
    })
    return table.to_pandas()


def _ground_truth(log: _Log, ids: pa.Array, start_date: dt.date) -> pd.DataFrame:
    if log.truth:
        day = np.concatenate([np.full(a.size, d, np.int64) for d, a, _, _ in log.truth])
        cust = np.concatenate([np.arange(a.size) for _, a, _, _ in log.truth])
        alive = np.concatenate([a for _, a, _, _ in log.truth])
        p = np.concatenate([p for _, _, p, _ in log.truth])
        buyer = np.concatenate([b for _, _, _, b in log.truth])
    else:
        day = cust = np.zeros(0, np.int64)
        alive = buyer = np.zeros(0, bool)
        p = np.zeros(0)
    month = np.datetime64(start_date, "us") + day * np.timedelta64(86_400_000_000, "us")
    order = np.lexsort((day, cust))
    return _contract(GROUND_TRUTH, {
        "customer_id": ids.take(pa.array(cust[order])),
        "month": pa.array(month[order], pa.timestamp("us")),
        "alive": alive[order],
        "p_defect": p[order],
        "is_buyer": buyer[order],
    }).to_pandas()


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _contract(table: Table, columns: dict[str, object]) -> pa.Table:
    """An Arrow table with exactly the columns of ``table``, in its order."""
    if sorted(columns) != sorted(table.names):
        raise RuntimeError(f"{table.name}: built columns {sorted(columns)} differ from the "
                           f"declared {table.names}")
    return pa.table({name: columns[name] for name in table.names})


def _calendar(start_date: dt.date, n: int) -> np.ndarray:
    """Relative purchase intensity of each day: weekday, yearly wave, holiday sales."""
    dates = np.datetime64(start_date, "D") + np.arange(n)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    year_start = dates.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (dates - year_start).astype(np.int64)
    wave = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 350) / 365.25)
    holiday = _is_holiday_sale(np.arange(n), int(np.datetime64(start_date, "s").astype(np.int64)))
    return _WEEKDAY[weekday] / _WEEKDAY.mean() * wave * (1.0 + 0.35 * holiday)


def _is_holiday_sale(day: np.ndarray, epoch: int) -> np.ndarray:
    """True from 24 November to 23 December."""
    dates = (np.datetime64(epoch, "s").astype("datetime64[D]") + day).astype("datetime64[D]")
    month_day = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    return ((month == 11) & (month_day >= 23)) | ((month == 12) & (month_day <= 22))


def _month_starts(start_date: dt.date, n_days: int) -> np.ndarray:
    """Day indices of the first day of every month within the period."""
    dates = np.datetime64(start_date, "D") + np.arange(n_days)
    return np.flatnonzero(dates == dates.astype("datetime64[M]").astype("datetime64[D]"))


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a matrix of probabilities."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return (rng.random(len(probs))[:, None] > cum).sum(axis=1)


def _time_of_day(rng: np.random.Generator, profile: str, n: int) -> np.ndarray:
    """Seconds after midnight (1 to 86399) following an hourly profile."""
    weights = np.asarray(_HOURS[profile], dtype=np.float64)
    hour = rng.choice(24, size=n, p=weights / weights.sum())
    return np.maximum(hour * 3600 + rng.integers(0, 3600, n), 1).astype(np.int64)


def _signup_time_of_day(rng: np.random.Generator, pop: _Population) -> np.ndarray:
    tod = np.where(pop.instant, _time_of_day(rng, "shop", pop.n),
                   _time_of_day(rng, "browse", pop.n))
    return np.minimum(tod, 86398)  # leaves a second for the first event of the day


def _after_signup(tod: np.ndarray, day: np.ndarray, signup_day: np.ndarray,
                  signup_tod: np.ndarray) -> np.ndarray:
    """Squeeze the times of events on the signup day into the hours after the signup."""
    same = day == signup_day
    squeezed = signup_tod + 1 + (tod * (86399 - signup_tod)) // 86400
    return np.where(same, squeezed, tod)


def _customer_ids(n: int) -> pa.Array:
    width = max(7, len(str(n)))
    digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise("C", digits, "")


def _strings(values: pd.Series) -> pa.Array:
    return pa.array(values, pa.string(), from_pandas=True)


def _timestamps(values: pd.Series) -> pa.Array:
    return pa.array(values, pa.timestamp("us")).cast(pa.timestamp("s")).cast(pa.string())


def _fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Numbers as text with a fixed number of decimals; NaN becomes null."""
    missing = np.isnan(values)
    scaled = np.round(np.where(missing, 0.0, values) * 10**decimals).astype(np.int64)
    sign = pa.array(np.where(scaled < 0, "-", ""))
    whole = pa.array(np.abs(scaled) // 10**decimals).cast(pa.string())
    if decimals:
        frac = pc.utf8_lpad(pa.array(np.abs(scaled) % 10**decimals).cast(pa.string()),
                            decimals, "0")
        text = pc.binary_join_element_wise(sign, whole, ".", frac, "")
    else:
        text = pc.binary_join_element_wise(sign, whole, "")
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)


def _inject_warts(table: pa.Table, rates: dict[str, float], rng: np.random.Generator
                  ) -> tuple[pa.Table, dict[str, int]]:
    """Apply each wart to its own rows (disjoint), then insert the duplicate rows."""
    n = table.num_rows
    wanted = {w: (max(1, round(r * n)) if r > 0 else 0) for w, r in rates.items()}
    total = sum(wanted.values())
    if total > n:
        raise ValueError(f"{total} wart rows requested for a table of {n} rows")
    picked = rng.choice(n, size=total, replace=False)
    counts: dict[str, int] = {}
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    duplicate = np.zeros(0, np.int64)
    start = 0
    for wart, count in wanted.items():
        rows = np.sort(picked[start:start + count])
        start += count
        counts[wart] = int(count)
        if wart == "duplicate_rows":
            duplicate = rows
            continue
        if wart.startswith("null_"):
            column, value = wart.removeprefix("null_"), None
        elif wart == "empty_customer_id":
            column, value = "customer_id", None
        elif wart == "bad_timestamp":
            column, value = "timestamp", _BAD_TIMESTAMPS
        elif wart == "bad_amount":
            column, value = "amount", _BAD_AMOUNTS
        else:
            raise ValueError(f"unknown wart {wart!r}")
        mask = np.zeros(n, bool)
        mask[rows] = True
        values = np.full(n, None, dtype=object)
        if value is not None:
            values[rows] = [value[i % len(value)] for i in range(count)]
        columns[column] = pc.if_else(pa.array(mask), pa.array(values, pa.string()),
                                     columns[column])
    take = np.repeat(np.arange(n), np.where(np.isin(np.arange(n), duplicate), 2, 1))
    out = pa.table(columns).take(pa.array(take))
    counts["rows"] = out.num_rows
    return out, counts
