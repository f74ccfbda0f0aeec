"""Whether a labelled plan can give an answer: enough rows of each outcome in every split.

The defection model learns on the training split; the validation split's customers
are halved, one half stopping the boosting and the other calibrating the probability
(a cross-fitted calibration, five folds of each outcome: :mod:`models.calibration`);
the test split scores the model, and its latest cutoff calibrates the refitted one the
same way. A split whose labels hold one outcome only (every buyer defected, or none
did), or a handful of one, cannot do its part: training would stop on a metric that is
not defined, or on a calibration without a row to learn from. :func:`outcome_shortfalls`
names the splits that fall short, so that such a plan is refused when the labels are
made, before training is attempted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.split_plan import SPLITS

__all__ = ["MIN_ROWS_PER_OUTCOME", "Shortfall", "outcome_counts", "outcome_shortfalls"]

#: The fewest labelled rows of each outcome (defected, retained) a split needs: the
#: validation rows are halved by customer and each half, like the latest test cutoff,
#: needs five of each outcome for the five calibration folds; twenty leaves the halves
#: room.
MIN_ROWS_PER_OUTCOME = 20


@dataclass(frozen=True)
class Shortfall:
    """A split with too few rows of an outcome.

    Attributes
    ----------
    split
        ``train``, ``validation`` or ``test``.
    defected, retained
        Its rows with a label (buyers): those that defected within the horizon and
        those that bought again.
    minimum
        The rows of each outcome it needs.
    """

    split: str
    defected: int
    retained: int
    minimum: int

    @property
    def rows(self) -> int:
        return self.defected + self.retained

    def describe(self) -> str:
        """In words, e.g. ``the validation split holds 14 labelled rows, all defected``."""
        if self.rows == 0:
            return f"the {self.split} split holds no labelled row"
        if self.defected == 0 or self.retained == 0:
            outcome = "defected" if self.retained == 0 else "retained"
            return f"the {self.split} split holds {self.rows} labelled rows, all {outcome}"
        return (f"the {self.split} split holds {self.rows} labelled rows, {self.defected} "
                f"defected and {self.retained} retained")


def outcome_counts(labels: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per split, the rows with a label that defected and that did not.

    Parameters
    ----------
    labels
        Columns ``split`` and ``defected`` (boolean, null where there is no label:
        prospects), as :func:`models.labels.with_splits` returns them.

    Returns
    -------
    dict
        ``{split: {"defected": n, "retained": m}}`` for every split, zeros included.
    """
    known = labels.loc[labels["defected"].notna(), ["split", "defected"]]
    defected = known["defected"].astype(bool)
    split = known["split"].astype(str)
    return {name: {"defected": int(defected[split == name].sum()),
                   "retained": int((~defected[split == name]).sum())} for name in SPLITS}


def outcome_shortfalls(labels: pd.DataFrame,
                       minimum: int = MIN_ROWS_PER_OUTCOME) -> list[Shortfall]:
    """The splits of ``labels`` with fewer than ``minimum`` rows of either outcome.

    Parameters
    ----------
    labels
        As for :func:`outcome_counts`.
    minimum
        The rows of each outcome every split needs (at least 1).

    Returns
    -------
    list of Shortfall
        In split order; empty when every split can do its part.
    """
    if minimum < 1:
        raise ValueError(f"minimum must be at least 1, got {minimum}")
    return [Shortfall(name, c["defected"], c["retained"], minimum)
            for name, c in outcome_counts(labels).items()
            if min(c["defected"], c["retained"]) < minimum]
