"""Portfolio snapshots as applications: each month-end row given its main loan's terms.

The application view has too few rows for a booster (about 2,400 applications a year), so the
application model also learns from the portfolio view's monthly snapshots of the same households.
With the application fields left empty on those rows the booster never splits on them, and the
served score ignores the loan applied for (issue 18). :func:`pool_with_loan_terms` fills them: each
snapshot gets the terms of its household's current main loan (largest active loan, as
``main_program``) through :func:`features.application.application_features`, the formulas of the
application view. The main loan is already part of the snapshot's history, so it is taken out of
the outstanding principal and the loan count before "debt after the loan" and "first loan" are
formed, as if the snapshot were the day that loan was applied for.

Measured against the two alternatives on the default district's test window
(``benchmarks/bench_application_rows.py``; README, "Application model"). Pure functions.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.application import APPLICATION_FIELDS, application_features
from features.application_burden import HISTORY_INPUTS
from features.catalog import feature_names

logger = logging.getLogger(__name__)

HH = "household_id"


def main_loan_terms(loans: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Each snapshot's main loan: the largest loan disbursed before ``as_of`` and not closed
    before it (ties: earliest disbursement, then loan id, as ``main_program``).

    Args:
        loans: The ``loans`` table (``loan_id``, ``household_id``, ``disbursement_date``,
            ``closed_date`` and :data:`features.application.APPLICATION_FIELDS`).
        snapshots: ``household_id`` and ``as_of``.

    Returns:
        One row per snapshot (index 0..n-1): ``household_id`` and the main loan's fields
        (missing when the household has no active loan).
    """
    s = pd.DataFrame(
        {
            HH: snapshots[HH].to_numpy(),
            "as_of": snapshots["as_of"].to_numpy(),
            "_row": np.arange(len(snapshots)),
        }
    )
    cols = ["loan_id", HH, "disbursement_date", "closed_date", *APPLICATION_FIELDS]
    m = s.merge(loans[cols], on=HH, how="inner")
    closed = pd.to_datetime(m["closed_date"])
    active = (pd.to_datetime(m["disbursement_date"]) < m["as_of"]) & ~(closed < m["as_of"])
    m = m[active.to_numpy()].sort_values(
        ["_row", "amount", "disbursement_date", "loan_id"], ascending=[True, False, True, True]
    )
    main = m.drop_duplicates("_row").set_index("_row")[list(APPLICATION_FIELDS)]
    return pd.concat([s[[HH]], main.reindex(s["_row"]).reset_index(drop=True)], axis=1)


def pool_with_loan_terms(
    pool: pd.DataFrame, loans: pd.DataFrame, households: pd.DataFrame
) -> pd.DataFrame:
    """Portfolio feature rows with the application features of their current main loan.

    Args:
        pool: Portfolio-view feature rows (``household_id``, ``as_of`` and the borrower-history
            features :data:`features.application_burden.HISTORY_INPUTS`).
        loans: The ``loans`` table.
        households: The ``households`` table (``workers``).

    Returns:
        A new frame: ``pool`` (index 0..n-1) with every application feature added in its
        catalog dtype (missing on a row without an active loan).
    """
    terms = main_loan_terms(loans, pool)
    hist = pool[list(HISTORY_INPUTS)].reset_index(drop=True).astype("float64")
    amount = pd.to_numeric(terms["amount"], errors="coerce").fillna(0.0)
    hist["outstanding_principal"] = (hist["outstanding_principal"] - amount).clip(lower=0.0)
    hist["loans_taken"] = (hist["loans_taken"] - terms["amount"].notna()).clip(lower=0)
    app = application_features(terms, households, hist)
    out = pool.reset_index(drop=True).copy()
    for name in feature_names("application"):
        out[name] = app[name].to_numpy()
        out[name] = out[name].astype(app[name].dtype)
    logger.info(
        "pool: %d portfolio rows given their main loan's terms (%d without one)",
        len(out),
        int(terms["amount"].isna().sum()),
    )
    return out
