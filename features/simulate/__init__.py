"""Seeded demo lifecycle simulator: the pipeline's embedded default data source.

A discrete-time (one step per day) simulation of a retail customer base, vectorized over
customers with numpy. Customers are acquired over the simulated period; prospects browse
and ask questions before some of them buy; buyers purchase at a heterogeneous latent rate
(gamma-distributed, as in the BG/NBD and Pareto/NBD literature) and spend at a
heterogeneous level (Gamma-Gamma); every buyer carries a latent defection hazard that
rises with unresolved complaints, slow ticket resolution, low satisfaction and falling
engagement, and falls with proactive contact from the company. Lost customers stop
buying but can come back. Every month the company runs a retention campaign under a
fixed rule, with a random control group, and the treated customers answer with their
true effect. The generative story and every constant are documented in
``docs/simulator.md``.

Two pure functions make up the public interface:

* :func:`simulate` returns the customers, transactions and interactions as typed frames
  (contract column names), plus the latent ground truth per customer and month;
* :func:`render_csv_tables` turns those frames into text tables in the input-contract
  format, with a few deterministic data-quality warts for the validation stage.

Neither reads files or parameters; the DVC stage ``pipeline/generate.py`` does the I/O.

Modules, one concern each:

* :mod:`~features.simulate.story`: the vocabularies and the story's constants;
* :mod:`~features.simulate.population`: latent traits per customer, the daily state
  and the rates derived from them;
* :mod:`~features.simulate.loop`: the daily loop and the log of its events;
* :mod:`~features.simulate.response`: each customer's true response to each action;
* :mod:`~features.simulate.campaigns`: the monthly retention campaigns, their control
  group and the true effects acting on the treated customers;
* :mod:`~features.simulate.clock`: the calendar and the time of day of events;
* :mod:`~features.simulate.frames`: the log assembled into contract frames;
* :mod:`~features.simulate.warts`: the data-quality warts of the text tables;
* :mod:`~features.simulate.simulation`: the public functions.
"""

from features.schema import GROUND_TRUTH
from features.simulate.simulation import Simulation, render_csv_tables, simulate
from features.simulate.story import (
    CATEGORIES,
    CONTACT_CHANNELS,
    RELATIONSHIP_TYPES,
    SALES_CHANNELS,
    SEGMENTS,
    STORY_KINDS,
)
from features.simulate.warts import WART_RATES

__all__ = [
    "CATEGORIES",
    "CONTACT_CHANNELS",
    "GROUND_TRUTH",
    "RELATIONSHIP_TYPES",
    "SALES_CHANNELS",
    "SEGMENTS",
    "STORY_KINDS",
    "WART_RATES",
    "Simulation",
    "render_csv_tables",
    "simulate",
]
