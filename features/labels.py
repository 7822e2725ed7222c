"""Labels: what happens to a household in the horizon after a snapshot.

For each snapshot ``(household_id, as_of)`` and each :class:`~features.catalog.LabelDefinition`,
the label is 1 when an enabled trouble component happens within ``[as_of, as_of + horizon)``, 0
when none does, and **null** (``pd.NA`` in a nullable ``Int8`` column) when the horizon is not
fully observed, i.e. ``as_of + horizon - 1 day`` is after the export date. Null rows are kept for
scoring and excluded from training; they are never 0 (nor 1, even if trouble was already seen, so
that partially observed rows cannot bias the positive rate).

Runs of interest arrears are counted over the household's sessions inside the horizon only (a run
that began before ``as_of`` counts from its first session in the horizon). Pure functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.catalog import LABELS, LabelDefinition
from features.history import (
    HH,
    household_sessions,
    prepare_snapshots,
    select_tables,
    with_household,
)
from features.pit import ROW, add_months, count_before, count_in_window, max_run_in_window

logger = logging.getLogger(__name__)

LABEL_TABLES: tuple[str, ...] = ("loans", "interest", "debt_events", "inspections")
"""The only tables :func:`make_labels` reads."""


def horizon_observed(
    as_of: pd.Series | np.ndarray, horizon_months: int, export_date: str | pd.Timestamp
) -> np.ndarray:
    """Whether ``[as_of, as_of + horizon)`` lies entirely on or before the export date."""
    end = add_months(np.asarray(as_of, dtype="datetime64[ns]"), horizon_months)
    last_day = np.datetime64(pd.Timestamp(export_date).normalize().to_datetime64(), "ns")
    return end - np.timedelta64(1, "D") <= last_day


def make_labels(
    tables: Mapping[str, pd.DataFrame],
    snapshots: pd.DataFrame,
    export_date: str | pd.Timestamp,
    definitions: Mapping[str, LabelDefinition] | None = None,
) -> pd.DataFrame:
    """Label columns for each snapshot.

    Args:
        tables: Raw tables of the data contract; reads :data:`LABEL_TABLES` only.
        snapshots: ``household_id`` and ``as_of`` (a date).
        export_date: Last day covered by the export (``manifest.json``'s ``export_date``).
        definitions: Labels to compute; defaults to :data:`features.catalog.LABELS`.

    Returns:
        A new frame in snapshot order with ``household_id``, ``as_of`` and one nullable ``Int8``
        column per definition.
    """
    defs = LABELS if definitions is None else definitions
    snaps = prepare_snapshots(snapshots)
    t = select_tables(tables, LABEL_TABLES)
    with_household(t)
    s = snaps.assign(**{ROW: np.arange(len(snaps))})
    hs = household_sessions(t["interest"])
    first_pos = hs.drop_duplicates(HH).set_index(HH)["pos"]
    start_pos = first_pos.reindex(s[HH].to_numpy()).fillna(0).to_numpy(dtype="int64")
    run_len = hs["run_len"].to_numpy(dtype="int64")
    lo_idx = count_before(s, "as_of", hs, HH, "session_date")

    out = snaps.copy()
    for name, d in defs.items():
        sh = s.assign(_end=add_months(s["as_of"].to_numpy(), d.horizon_months))
        hit = np.zeros(len(s), dtype=bool)
        if d.arrears_min_consecutive is not None:
            hi_idx = count_before(sh, "_end", hs, HH, "session_date")
            run = max_run_in_window(run_len, start_pos, lo_idx, hi_idx)
            hit |= run >= d.arrears_min_consecutive
        if d.debt_event_types:
            ev = t["debt_events"][t["debt_events"]["event_type"].isin(d.debt_event_types)]
            hit |= count_in_window(sh, "as_of", "_end", ev, HH, "event_date") > 0
        insp = t["inspections"]
        found = insp["use_of_funds"].isin(d.inspection_findings).to_numpy(dtype=bool)
        if d.count_migration:
            found = found | insp["migrated"].fillna(False).to_numpy(dtype=bool)
        if found.any():
            hit |= count_in_window(sh, "as_of", "_end", insp[found], HH, "inspection_date") > 0
        observed = horizon_observed(s["as_of"], d.horizon_months, export_date)
        values = np.where(observed, hit, False).astype("int8")
        out[name] = pd.arrays.IntegerArray(values, mask=~observed)
        logger.debug(
            "label %s: %d rows, %d observed, %d positive",
            name,
            len(out),
            int(observed.sum()),
            int((hit & observed).sum()),
        )
    return out
