"""The simulator's vocabularies and the constants of its story.

Every number the generative story uses sits here, named and commented; the story
itself and the meaning of each constant are documented in ``docs/simulator.md``.
Per-segment arrays follow the order of :data:`SEGMENTS`, per-relationship arrays
the order of :data:`RELATIONSHIP_TYPES`. Nothing here draws random numbers.
"""

from __future__ import annotations

import numpy as np

from features.schema import CONTACT_ACTIONS, RETENTION_CONTACT

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
    RETENTION_CONTACT,
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

# True response to the company's actions (features/simulate/response.py), drawn from
# its own stream after the story: the events do not depend on it.
#: Response types of the ground truth.
RESPONSE_TYPES: tuple[str, ...] = ("persuadable", "unmoved", "sleeping_dog")
_RESPONSE_STREAM = 0x5E5F0
# Share of each type by segment (rows: SEGMENTS; columns: RESPONSE_TYPES): loyal and
# high-volume buyers mostly buy anyway, wanderers mostly leave anyway, discount-driven
# and impulsive buyers answer offers.
_SEG_RESPONSE = np.array([
    [0.25, 0.70, 0.05],
    [0.60, 0.32, 0.08],
    [0.45, 0.45, 0.10],
    [0.35, 0.60, 0.05],
    [0.15, 0.75, 0.10],
    [0.30, 0.65, 0.05],
])
_RESPONSE_ACTIONS = CONTACT_ACTIONS
# Effects on the defection probability of the horizon (the others lift its spend).
_DEFECTION_ACTIONS = ("protect", "re_engineer", "regain")
# Mean effect per type (RESPONSE_TYPES order): share of the horizon's defection
# probability removed (protect, regain, re_engineer) or lift of the horizon's spend
# (start, enhance); negative: the contact harms.
_RESPONSE_EFFECT = {
    "start": np.array([0.40, 0.0, -0.10]),
    "protect": np.array([0.45, 0.0, -0.30]),
    "re_engineer": np.array([-0.02, -0.05, -0.20]),
    "enhance": np.array([0.15, 0.0, -0.10]),
    "regain": np.array([0.25, 0.0, -0.10]),
}
_RESPONSE_SPREAD = 0.5  # lognormal sigma of a customer's effect around its type's mean

# The company's past retention campaigns (features/simulate/campaigns.py), drawn from a
# stream of their own: who is chosen, held out, won or driven away.
_CAMPAIGN_STREAM = 0xCA4A1
_CAMPAIGN_FIRST_MONTH = 3  # index of the first campaign's month start: the 4th of the period
_CAMPAIGN_CAPACITY = 0.03  # contacts per month, as a share of the buyers known
_CAMPAIGN_CONTROL = 0.2  # share of the chosen customers held out at random
# Share of each month's capacity by action; the pools, by days since the last purchase
# (R, inclusive lower bound, exclusive upper) and the least number of purchases (F).
_CAMPAIGN_SHARE = {"protect": 0.5, "regain": 0.3, "enhance": 0.2}
_CAMPAIGN_POOL = {"protect": (60, 180, 2), "regain": (180, 720, 1), "enhance": (1, 31, 2)}
_CAMPAIGN_CHANNEL = {"protect": "phone", "regain": "email", "enhance": "email"}

# Interaction channels by kind, over CONTACT_CHANNELS.
_KIND_CHANNELS = {
    "web_visit": [0.6, 0.4, 0, 0, 0, 0],
    "email_open": [0, 0, 1, 0, 0, 0],
    "support_ticket": [0, 0, 0.35, 0.40, 0.25, 0],
    "complaint": [0, 0, 0.30, 0.20, 0.40, 0.10],
    "survey": [0.3, 0, 0.7, 0, 0, 0],
    "call": [0, 0, 0, 0, 1, 0],
}  # retention contacts: _CAMPAIGN_CHANNEL

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
