"""Split invariants: time order with label-horizon gaps, households never on two sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.split import (
    household_split,
    label_gap_months,
    labelled,
    make_split,
    month_number,
    time_windows,
    window_months,
)

LABEL = "trouble_12m"


def _synthetic(months: int, households: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    as_of = pd.date_range("2019-02-01", periods=months, freq="MS")
    df = pd.DataFrame(
        [(f"H{h:03d}", d) for d in as_of for h in range(households)],
        columns=["household_id", "as_of"],
    )
    df[LABEL] = pd.array(rng.random(len(df)) < 0.2, dtype="Int8")
    return df


def test_time_windows_arithmetic() -> None:
    w = time_windows(np.array([0]), test_start=60, horizon=12, valid_months=12, test_months=12)
    assert w == {"train": (0, 25), "valid": (37, 48), "test": (60, 71)}


def _check_gaps(table: pd.DataFrame, split, horizon: int = 12) -> None:
    months = month_number(table["as_of"])
    parts = [months[split.train], months[split.valid], months[split.test]]
    assert all(p.size for p in parts)
    for earlier, later in zip(parts, parts[1:], strict=False):
        # a label window [as_of, as_of + horizon) ends before the next window's first snapshot
        assert earlier.max() + horizon <= later.min()
    all_pos = np.concatenate([split.train, split.valid, split.test])
    assert len(np.unique(all_pos)) == len(all_pos)


def test_time_split_has_horizon_gaps_and_backtest(small_table: pd.DataFrame) -> None:
    data, n_null = labelled(small_table, LABEL)
    assert n_null == int(small_table[LABEL].isna().sum()) > 0
    assert data[LABEL].notna().all()
    main, windows = make_split(data, LABEL, null_label_rows=n_null)
    assert main.info.kind == "time"
    assert main.info.null_label_rows == n_null
    assert len(windows) >= 2
    assert main.info.cutoffs == sorted(main.info.cutoffs, reverse=True)
    assert main.info.cutoffs[0] == main.info.windows["test"]["start"]
    # the test window holds the newest labelled snapshots
    assert data["as_of"].iloc[main.test].max() == data["as_of"].max()
    for w in windows:
        _check_gaps(data, w)
        info = w.info.windows
        for part in ("train", "valid", "test"):
            assert info[part]["rows"] == len(w.part(part))
            assert info[part]["positives"] == int(data[LABEL].iloc[w.part(part)].sum())


def test_make_split_refuses_null_labels(small_table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="observed label"):
        make_split(small_table, LABEL)


def test_short_table_is_split_by_household() -> None:
    df = _synthetic(months=20)
    main, windows = make_split(df, LABEL, seed=3)
    assert main.info.kind == "household"
    assert "20 labelled snapshot month" in main.info.reason
    assert windows == [main]
    sides = [set(df["household_id"].iloc[p]) for p in (main.train, main.valid, main.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(len(p) for p in (main.train, main.valid, main.test)) == len(df)


def test_single_snapshot_household_split_is_stratified() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "household_id": [f"H{i:04d}" for i in range(2000)],
            "as_of": pd.Timestamp("2024-01-01"),
            LABEL: pd.array(rng.random(2000) < 0.05, dtype="Int8"),
        }
    )
    main, _ = make_split(df, LABEL)
    assert main.info.kind == "household"
    rates = [df[LABEL].iloc[p].mean() for p in (main.train, main.valid, main.test)]
    assert max(rates) - min(rates) < 0.01
    sizes = [len(p) / len(df) for p in (main.train, main.valid, main.test)]
    assert sizes == pytest.approx([0.6, 0.2, 0.2], abs=0.01)


def test_household_split_is_seeded() -> None:
    df = _synthetic(months=3)
    a, b = household_split(df, LABEL, seed=5), household_split(df, LABEL, seed=5)
    assert np.array_equal(a.test, b.test)
    assert not np.array_equal(a.test, household_split(df, LABEL, seed=6).test)


def test_day_dated_snapshots_get_one_more_gap_month() -> None:
    """Application rows are dated on their day: a label of 15 March runs into the next March."""
    rng = np.random.default_rng(4)
    days = pd.date_range("2016-01-01", "2024-12-31", freq="D")
    df = pd.DataFrame(
        {
            "household_id": [f"H{i:05d}" for i in range(len(days))],
            "as_of": days,
        }
    )
    df[LABEL] = pd.array(rng.random(len(df)) < 0.1, dtype="Int8")
    assert label_gap_months(df["as_of"], 12) == 13
    assert label_gap_months(pd.Series(pd.date_range("2020-01-01", periods=3, freq="MS")), 12) == 12
    main, windows = make_split(df, LABEL)
    assert main.info.params["gap_months"] == 13
    for w in windows:
        parts = [df["as_of"].iloc[p] for p in (w.train, w.valid, w.test)]
        for earlier, later in zip(parts, parts[1:], strict=False):
            assert (earlier + pd.DateOffset(months=12)).max() <= later.min()


def test_window_months_grow_when_positives_are_few() -> None:
    days = pd.date_range("2016-01-01", "2024-12-31", freq="D")
    df = pd.DataFrame({"household_id": [f"H{i}" for i in range(len(days))], "as_of": days})
    few = np.zeros(len(df), dtype=int)
    few[::40] = 1  # ~9 positives a month: ~110 in 12 months
    df[LABEL] = pd.array(few, dtype="Int8")
    months, reason = window_months(df, LABEL)
    assert months == 24 and "24 months" in reason
    many = (np.arange(len(df)) % 4 != 0).astype(int)  # ~270 positives in 12 months
    df[LABEL] = pd.array(many, dtype="Int8")
    assert window_months(df, LABEL)[0] == 12
    # too short a table for 24-month windows keeps 12 (the time split still fits)
    short = df[df["as_of"] >= "2019-06-01"].copy()
    short[LABEL] = pd.array(few[-len(short) :], dtype="Int8")
    assert window_months(short, LABEL)[0] == 12
