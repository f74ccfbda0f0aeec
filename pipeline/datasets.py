"""Stage outputs read back as frames: the training frame (labels joined with their
features) that ``train`` and ``evaluate`` share, and the simulator's truth, which
only evaluation reads."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from pipeline.io import check_intermediate
from pipeline.paths import Paths


def load_training_frame(paths: Paths) -> pd.DataFrame:
    """Labels joined with the features of the same customer and cutoff.

    Raises
    ------
    InputError
        When the labels or the feature table are missing or damaged (naming the stage
        to run).
    ValueError
        When some labelled rows have no feature row: the label cutoffs are not
        snapshots of the feature table.
    """
    check_intermediate(paths.labels_table, "labels")
    parts = sorted(paths.features.glob("*.parquet"))
    for part in parts or [paths.features / "part-00000.parquet"]:
        check_intermediate(part, "features")
    con = duckdb.connect()
    frame = con.execute(
        "SELECT f.*, l.split, l.stage, l.next_stage, l.defected, l.future_purchases, "
        "l.future_spend FROM read_parquet(?) l "
        "JOIN read_parquet(?) f USING (customer_id, cutoff) "
        "ORDER BY l.cutoff, l.customer_id",
        [str(paths.labels_table), str(paths.features / "*.parquet")]).df()
    n_labels = con.execute("SELECT count(*) FROM read_parquet(?)",
                           [str(paths.labels_table)]).fetchall()[0][0]
    if len(frame) != n_labels:
        raise ValueError(f"{n_labels - len(frame)} labelled rows have no feature row: the "
                         "labels and the feature table disagree on cutoffs (re-run `dvc repro`)")
    return frame


def load_contacts(paths: Paths) -> pd.DataFrame:
    """The past retention contacts of the clean interactions (``kind`` =
    ``retention_contact``): ``customer_id``, ``timestamp``, ``action``, ``control``;
    no row when the interactions are absent or carry no ``action`` column."""
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="str"),
                          "timestamp": pd.Series(dtype="datetime64[us]"),
                          "action": pd.Series(dtype="str"), "control": pd.Series(dtype="bool")})
    table = paths.clean_table("interactions")
    if not table.exists():
        return empty
    con = duckdb.connect()
    columns = {row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                              [str(table)]).fetchall()}
    if not {"kind", "action"} <= columns:
        return empty
    control = "coalesce(control, false)" if "control" in columns else "false"
    return con.execute(
        f"SELECT customer_id, timestamp, action, {control} AS control FROM read_parquet(?) "
        "WHERE kind = 'retention_contact' AND action IS NOT NULL "
        "ORDER BY customer_id, timestamp", [str(table)]).df()


def oracle(paths: Paths, rows: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true defection probability for ``rows`` (``customer_id``,
    ``cutoff``), when the truth exists and covers them."""
    if not paths.ground_truth.exists():
        return None
    truth = pd.read_parquet(paths.ground_truth, columns=["customer_id", "month", "p_defect"])
    truth["cutoff"] = pd.to_datetime(truth["month"]).dt.date
    keys = rows[["customer_id", "cutoff"]].assign(cutoff=pd.to_datetime(rows["cutoff"]).dt.date)
    joined = keys.merge(truth[["customer_id", "cutoff", "p_defect"]], how="left",
                        on=["customer_id", "cutoff"])
    if joined["p_defect"].isna().any():
        return None  # the test cutoff is not a month start: no truth to compare with
    return joined["p_defect"].to_numpy()


def truth_of(paths: Paths, rows: pd.DataFrame) -> pd.DataFrame | None:
    """The simulator's truth (every column of ``features.schema.GROUND_TRUTH``) for
    ``rows`` (``customer_id``, ``cutoff``), in their order; None when there is no truth,
    it lacks the true responses, or it does not cover the rows."""
    if not paths.ground_truth.exists():
        return None
    truth = pd.read_parquet(paths.ground_truth)
    if "expected_spend" not in truth.columns:
        return None  # written by an older simulator: no true responses
    truth["cutoff"] = pd.to_datetime(truth["month"]).dt.date
    keys = rows[["customer_id", "cutoff"]].assign(cutoff=pd.to_datetime(rows["cutoff"]).dt.date)
    joined = keys.merge(truth.drop(columns="month"), how="left", on=["customer_id", "cutoff"])
    if joined["p_defect"].isna().any():
        return None
    return joined.drop(columns=["customer_id", "cutoff"])

