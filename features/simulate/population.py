"""The simulated population: latent traits drawn once per customer, and the daily rates.

:class:`_Population` holds what is drawn once per customer (signup day, segment,
relationship, purchase rate, defection hazard, spend, ...); :class:`_State` the latent
state that changes from day to day (alive, purchases, grievance, care, engagement,
competitor offers). :func:`_rates` turns both into a day's purchase, defection and
comeback rates, and :func:`_horizon_truth` gives the ground-truth probability of no
purchase over a horizon and the expected purchases in it, with the state frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.simulate.story import (
    _B_CARE,
    _B_COMEBACK_CARE,
    _B_ENGAGEMENT,
    _B_GRIEVANCE,
    _B_RATE_ENGAGEMENT,
    _B_SATISFACTION,
    _CATEGORY_WEIGHTS,
    _COMEBACK_DAYS,
    _CONVERSION_CARE,
    _CONVERSION_DAYS,
    _EMAIL_CONSENT,
    _EMAIL_DAYS,
    _FIRST_TOUCH,
    _HAZARD_SHAPE,
    _PROSPECT_BROWSE,
    _PROSPECT_LAPSE_DAYS,
    _PROSPECT_RETURN_DAYS,
    _RATE_SHAPE,
    _REL_GIVEN_SEG,
    _REL_SALES_CHANNEL,
    _SAT_PER_CARE,
    _SAT_PER_GRIEVANCE,
    _SEG_BROWSE,
    _SEG_COMEBACK,
    _SEG_EXTRA_ITEMS,
    _SEG_IN_MARKET,
    _SEG_INSTANT_BUY,
    _SEG_INTERVAL_DAYS,
    _SEG_LIFETIME_DAYS,
    _SEG_OFFER_SENSITIVITY,
    _SEG_SHARE,
    _SEG_SPEND,
    _SHOCK_HAZARD,
    _SHOCK_PER_DAY,
    _SHOCK_PURCHASE,
    _SPEND_SIGMA,
    _STAGE_DECAY,
    _STAGE_EXTRA,
    _WEB_DAYS,
    _WINDOW_SHOPPER_DAYS,
    CATEGORIES,
    SEGMENTS,
)

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
    def draw(cls, rng: np.random.Generator, n: int, n_days: int,
             acquisition_days: int | None = None) -> _Population:
        u = rng.random(n)
        if acquisition_days is None:
            # Acquisition accelerates: density on the period grows linearly to twice its start.
            growth = 1.0
            x = (np.sqrt(1.0 + 2.0 * growth * u * (1.0 + growth / 2.0)) - 1.0) / growth
            signup = np.sort(np.minimum((x * n_days).astype(np.int32), n_days - 1))
        else:
            # One cohort: every customer is acquired in the first days, evenly, then ages.
            days = min(acquisition_days, n_days)
            signup = np.sort(np.minimum((u * days).astype(np.int32), days - 1))
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
    """P(no purchase in the next ``len(season)`` days) with the latent state frozen
    (the first output of :func:`_horizon_truth`)."""
    return _horizon_truth(alive, purchase, hazard, comeback, shock_left, season)[0]


def _horizon_truth(alive: np.ndarray, purchase: np.ndarray, hazard: np.ndarray,
                   comeback: np.ndarray, shock_left: np.ndarray, season: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """P(no purchase in the next ``len(season)`` days) and the expected number of
    purchases in them, with the latent state frozen.

    A two-state chain per customer (active, lost) stepped day by day with the same
    order of draws as the simulation: an active customer first may defect, then may
    buy; a lost one may come back, which is a purchase. The calendar and the remaining
    days of a competitor's offer are known in advance and applied. A customer who buys
    stays active: the expected purchases add, day by day, the probability of a
    purchase on that day.
    """
    a = alive.astype(np.float64)
    b = 1.0 - a
    n_buys = np.zeros_like(a)
    shocked_any = shock_left.max(initial=0)
    q_plain = -np.expm1(-hazard)
    active, lost = a.copy(), b.copy()  # the state whatever the purchases
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
        n_buys += active * (1.0 - q) * p + lost * r
        active, lost = active * (1.0 - q) + lost * r, active * q + lost * (1.0 - r)
    return np.clip(a + b, 0.0, 1.0), n_buys


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a matrix of probabilities."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return (rng.random(len(probs))[:, None] > cum).sum(axis=1)
