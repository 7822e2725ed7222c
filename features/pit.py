"""Point-in-time primitives shared by the feature and label builders.

Every helper answers a question about events *strictly before* a time ``t`` (or in a half-open
window ``[lo, hi)``) per snapshot row, with sorted cumulative counts and ``merge_asof`` instead of
a cross join, so cost grows with ``events + snapshots`` rather than their product. Snapshot frames
carry a ``_row`` column (0..n-1); results are NumPy arrays aligned on it. Pure functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROW = "_row"
_NS = "datetime64[ns]"


def as_ns(s: pd.Series) -> pd.Series:
    """A date column as ``datetime64[ns]`` (Parquet dates come back as ms/us)."""
    return s.astype(_NS)


def lookup(mapping: pd.Series, keys: pd.Series, dtype: str | None = None) -> np.ndarray:
    """Values of ``mapping`` (unique index) for each key; missing keys give NaN / NaT.

    Unlike ``Series.map``, keeps the mapping's dtype when it is empty.
    """
    return mapping.reindex(keys.to_numpy()).to_numpy(dtype=dtype)


def month_index(values: pd.Series | np.ndarray) -> np.ndarray:
    """Calendar month number (``year * 12 + month - 1``) of each date; NaT → a large negative."""
    arr = np.asarray(values, dtype=_NS)
    return arr.astype("datetime64[M]").astype("int64")


def add_months(dates: pd.Series | np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Add whole months to dates, clipping the day to the target month's length.

    Args:
        dates: Dates (time of day is dropped).
        months: Months to add (may be negative), scalar or one per date.

    Returns:
        ``datetime64[ns]`` array.
    """
    d = np.asarray(dates, dtype=_NS).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    day = (d - m.astype("datetime64[D]")).astype("int64")
    target = m + np.asarray(months, dtype="int64")
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        "int64"
    )
    out = target.astype("datetime64[D]") + np.minimum(day, month_len - 1)
    return out.astype(_NS)


def _asof(
    snaps: pd.DataFrame,
    t_col: str,
    table: pd.DataFrame,
    key: str,
    date_col: str,
    value_cols: list[str],
) -> pd.DataFrame:
    """Last row of ``table`` per ``key`` dated strictly before ``snaps[t_col]``, per snapshot.

    ``table`` must have at most one row per (key, date). Returns ``value_cols`` indexed like
    ``snaps[ROW]`` order (0..n-1), NaN where there is none.
    """
    left = snaps[[ROW, key, t_col]].sort_values(t_col, kind="stable")
    right = table[[key, date_col, *value_cols]].sort_values(date_col, kind="stable")
    if right.empty:
        out = pd.DataFrame(
            {c: np.full(len(snaps), np.nan) for c in value_cols}, index=np.arange(len(snaps))
        )
        return out
    merged = pd.merge_asof(
        left,
        right,
        left_on=t_col,
        right_on=date_col,
        by=key,
        allow_exact_matches=False,
        direction="backward",
    )
    merged = merged.set_index(ROW).reindex(np.arange(len(snaps)))
    return merged[value_cols]


def count_before(
    snaps: pd.DataFrame,
    t_col: str,
    events: pd.DataFrame,
    key: str,
    date_col: str,
    weight: str | None = None,
) -> np.ndarray:
    """Number (or sum of ``weight``) of events per ``key`` dated strictly before ``snaps[t_col]``.

    Args:
        snaps: Snapshot rows with ``ROW``, ``key`` and ``t_col``.
        t_col: Column of ``snaps`` holding the cut-off time.
        events: Event rows with ``key`` and ``date_col`` (NaT dates are ignored).
        key: Join key (e.g. ``household_id``).
        date_col: Event date column.
        weight: Optional numeric column to sum instead of counting.

    Returns:
        Float array aligned on ``snaps[ROW]``.
    """
    ev = events[events[date_col].notna()]
    w = ev[weight].astype("float64") if weight else pd.Series(1.0, index=ev.index)
    per_day = (
        pd.DataFrame({key: ev[key], date_col: ev[date_col], "_w": w})
        .groupby([key, date_col], sort=True, observed=True)["_w"]
        .sum()
        .reset_index()
    )
    per_day["_cum"] = per_day.groupby(key, sort=False)["_w"].cumsum()
    got = _asof(snaps, t_col, per_day, key, date_col, ["_cum"])["_cum"]
    return got.fillna(0.0).to_numpy(dtype="float64")


def count_in_window(
    snaps: pd.DataFrame,
    lo_col: str,
    hi_col: str,
    events: pd.DataFrame,
    key: str,
    date_col: str,
    weight: str | None = None,
) -> np.ndarray:
    """Number (or weighted sum) of events dated in ``[snaps[lo_col], snaps[hi_col])``."""
    hi = count_before(snaps, hi_col, events, key, date_col, weight)
    lo = count_before(snaps, lo_col, events, key, date_col, weight)
    return hi - lo


def last_before(
    snaps: pd.DataFrame,
    t_col: str,
    events: pd.DataFrame,
    key: str,
    date_col: str,
    value_cols: list[str],
    order_cols: list[str] | None = None,
) -> pd.DataFrame:
    """Values of the last event per ``key`` dated strictly before ``snaps[t_col]``.

    Ties on the same date are broken by ``order_cols`` (the last row in that order wins).

    Returns:
        ``value_cols`` plus ``date_col`` (renamed ``_last_date``), aligned on ``snaps[ROW]``.
    """
    ev = events[events[date_col].notna()]
    ev = ev.sort_values([key, date_col, *(order_cols or [])], kind="stable")
    ev = ev.drop_duplicates([key, date_col], keep="last")
    ev = ev.assign(_last_date=ev[date_col])
    return _asof(snaps, t_col, ev, key, date_col, [*value_cols, "_last_date"])


def max_run_in_window(
    run_len: np.ndarray,
    start_pos: np.ndarray,
    lo_idx: np.ndarray,
    hi_idx: np.ndarray,
) -> np.ndarray:
    """Longest run of flagged items inside a window of a per-key ordered sequence.

    The sequences of all keys are concatenated; ``run_len[i]`` is the length of the flagged run
    ending at item ``i`` (0 if ``i`` is not flagged). For each snapshot, the window is items
    ``start_pos + [lo_idx, hi_idx)`` of its key; runs are cut at the window's start.

    Args:
        run_len: Run length ending at each item, concatenated over keys.
        start_pos: Position of each snapshot's key's first item in ``run_len``.
        lo_idx: First item of the window (index within the key's sequence).
        hi_idx: One past the last item of the window.

    Returns:
        Int array, one per snapshot (0 for empty windows).
    """
    lo = lo_idx.astype("int64")
    lens = np.maximum(hi_idx.astype("int64") - lo, 0)
    out = np.zeros(len(lens), dtype="int64")
    total = int(lens.sum())
    if total == 0:
        return out
    snap = np.repeat(np.arange(len(lens)), lens)
    offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)  # 0..len-1 per snapshot
    pos = start_pos.astype("int64")[snap] + lo[snap] + offsets
    vals = np.minimum(run_len[pos], offsets + 1)
    nonempty = np.flatnonzero(lens)
    starts = (np.cumsum(lens) - lens)[nonempty]
    out[nonempty] = np.maximum.reduceat(vals, starts)
    return out


def months_between(later: pd.Series | np.ndarray, earlier: pd.Series | np.ndarray) -> np.ndarray:
    """Calendar-month difference ``month(later) - month(earlier)`` as float (NaN when NaT)."""
    e = np.asarray(earlier, dtype=_NS)
    diff = (month_index(later) - month_index(e)).astype("float64")
    diff[np.isnat(e)] = np.nan
    return diff
