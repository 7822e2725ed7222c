"""Snapshot frames: which (household, as_of) rows a view scores.

Portfolio view convention: a snapshot at month-end ``M`` has ``as_of`` = the first day of the
month after ``M``. Features use events strictly before ``as_of``, i.e. history up to and including
the month-end; labels look at ``[as_of, as_of + horizon)``. A household is in the portfolio at
month-end ``M`` when it has a loan disbursed on or before ``M`` that was neither closed nor
written off on or before ``M`` (``closed_date >= as_of`` or empty).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.pit import as_ns, lookup, month_index

logger = logging.getLogger(__name__)


def month_end_as_of(start_month: str, end_month: str) -> pd.DatetimeIndex:
    """The ``as_of`` dates of the month-ends from ``start_month`` to ``end_month`` (YYYY-MM).

    Args:
        start_month: First month-end, ``YYYY-MM``.
        end_month: Last month-end, ``YYYY-MM`` (inclusive).

    Returns:
        First days of the following months, ``datetime64[ns]``.

    Raises:
        ValueError: If ``end_month`` is before ``start_month``.
    """
    lo, hi = pd.Period(start_month, "M"), pd.Period(end_month, "M")
    if hi < lo:
        raise ValueError(f"end month {end_month} is before start month {start_month}")
    return pd.period_range(lo + 1, hi + 1, freq="M").to_timestamp().astype("datetime64[ns]")


def portfolio_snapshots(
    tables: Mapping[str, pd.DataFrame], start_month: str, end_month: str
) -> pd.DataFrame:
    """One row per household with an active loan at each month-end of a range.

    Args:
        tables: Raw tables; reads ``loans`` (disbursement and closing dates) and ``debt_events``
            (write-offs), nothing else.
        start_month: First month-end, ``YYYY-MM``.
        end_month: Last month-end, ``YYYY-MM`` (inclusive).

    Returns:
        A new frame with ``household_id`` and ``as_of`` (``datetime64[ns]``), unique, sorted by
        ``as_of`` then ``household_id``.
    """
    as_ofs = month_end_as_of(start_month, end_month)
    loans = tables["loans"]
    disb = as_ns(loans["disbursement_date"]).to_numpy()
    end = as_ns(loans["closed_date"]).to_numpy()
    debt = tables.get("debt_events")
    if debt is not None and len(debt):
        wo = (
            debt.loc[debt["event_type"] == "write_off", ["loan_id", "event_date"]]
            .assign(event_date=lambda d: as_ns(d["event_date"]))
            .groupby("loan_id")["event_date"]
            .min()
        )
        wo_date = lookup(wo, loans["loan_id"], "datetime64[ns]")
        end = np.where(np.isnat(end) | (~np.isnat(wo_date) & (wo_date < end)), wo_date, end)
    first = int(month_index(as_ofs[:1])[0])
    last = int(month_index(as_ofs[-1:])[0])
    # active at as_of (a month start, month index k): disb < as_of <=> month(disb) < k;
    # end >= as_of <=> month(end) >= k (as_of is the 1st); no end => active to the last month.
    k_lo = np.maximum(month_index(disb) + 1, first)
    k_hi = np.where(np.isnat(end), last, np.minimum(month_index(end), last))
    lens = np.maximum(k_hi - k_lo + 1, 0)
    rows = np.repeat(np.arange(len(loans)), lens)
    k = np.repeat(k_lo, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    out = pd.DataFrame(
        {
            "household_id": loans["household_id"].to_numpy()[rows],
            "as_of": k.astype("datetime64[M]").astype("datetime64[ns]"),
        }
    )
    out = out.drop_duplicates().sort_values(["as_of", "household_id"], kind="stable")
    out = out.reset_index(drop=True)
    out["household_id"] = out["household_id"].astype("str")
    logger.debug(
        "portfolio snapshots %s..%s: %d rows, %d households",
        start_month,
        end_month,
        len(out),
        out["household_id"].nunique(),
    )
    return out
