"""Metric functions against hand-computed tiny examples and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from training.evaluate import (
    RankingEvaluator,
    calibration_fit,
    capture_at_capacity,
    capture_top_k,
    evaluate_rankings,
    ks_statistic,
    reliability_table,
    roc_auc,
)
from training.rankings import oracle_proba, practice_scores


def test_roc_auc_counts_ties_as_half() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.5, 0.1])
    assert roc_auc(y, s) == pytest.approx(0.625)
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    s = rng.integers(0, 6, 500).astype(float)  # many ties
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_pr_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.1).astype(int)
    s = np.round(rng.random(400) + 0.3 * y, 1)
    ev = RankingEvaluator(y, s, np.zeros(400), np.zeros(400), 1, False)
    assert ev.metrics()["pr_auc"] == pytest.approx(average_precision_score(y, s))


def test_ks_hand_examples() -> None:
    assert ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert ks_statistic(np.array([1, 0, 1, 0]), np.array([0.4, 0.3, 0.2, 0.1])) == 0.5


def test_capture_at_capacity_hand_example() -> None:
    y = np.array([0, 1, 1, 1, 0])
    s = np.array([0.9, 0.8, 0.1, 0.5, 0.4])
    cell = np.array([0, 0, 0, 1, 1])
    # capacity 1: cell 0 visits the 0.9 row (no trouble), cell 1 the 0.5 row (trouble)
    assert capture_at_capacity(y, s, cell, 1) == pytest.approx((1 / 2, 1 / 3))
    # capacity 2: cell 0 finds the 0.8 row too, cell 1 visits both rows
    assert capture_at_capacity(y, s, cell, 2) == pytest.approx((2 / 4, 2 / 3))
    # capacity larger than a cell visits the whole cell
    assert capture_at_capacity(y, s, cell, 10) == pytest.approx((3 / 5, 1.0))


def test_capacity_cutting_a_tie_takes_its_expected_value() -> None:
    y = np.array([1, 0, 0, 0])
    s = np.ones(4)
    precision, capture = capture_at_capacity(y, s, np.zeros(4), 2)
    assert precision == pytest.approx(0.25)
    assert capture == pytest.approx(0.5)


def test_top_k_percent_is_taken_per_month() -> None:
    y = np.array([1] + [0] * 9 + [0] * 9 + [1])
    s = np.r_[np.linspace(1, 0.1, 10), np.linspace(1, 0.1, 10)]
    period = np.repeat([0, 1], 10)
    # top 10% = one household a month: month 0 finds its trouble, month 1 does not
    assert capture_top_k(y, s, period, 10) == pytest.approx((0.5, 0.5))
    assert capture_top_k(y, s, period, 100) == pytest.approx((0.1, 1.0))


def test_calibration_slope_is_one_for_calibrated_probabilities() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.01, 0.4, 200_000)
    y = (rng.random(p.size) < p).astype(float)
    z = np.log(p / (1 - p))
    a, b = calibration_fit(y, z)
    assert b == pytest.approx(1.0, abs=0.05)
    assert a == pytest.approx(0.0, abs=0.1)
    _, b_over = calibration_fit(y, 2 * z)  # overconfident scores
    assert b_over == pytest.approx(0.5, abs=0.05)


def test_integer_weights_equal_duplicated_rows() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(60) < 0.3).astype(int)
    s = rng.random(60)
    period, cell = np.repeat([0, 1, 2], 20), np.repeat(np.arange(6), 10)
    w = rng.integers(0, 3, 60)
    idx = np.repeat(np.arange(60), w)
    weighted = RankingEvaluator(y, s, period, cell, 3, True).metrics(w.astype(float))
    duplicated = RankingEvaluator(y[idx], s[idx], period[idx], cell[idx], 3, True).metrics()
    for key in ("roc_auc", "pr_auc", "ks", "brier", "log_loss", "calibration_slope"):
        assert weighted[key] == pytest.approx(duplicated[key]), key


def _frame(n_hh: int = 200, months: int = 4, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "household_id": np.tile([f"H{i}" for i in range(n_hh)], months),
            "as_of": np.repeat(pd.date_range("2024-01-01", periods=months, freq="MS"), n_hh),
            "commune_id": np.tile([f"C{i % 5}" for i in range(n_hh)], months),
        }
    )
    df["p"] = rng.uniform(0.01, 0.5, len(df))
    df["label"] = (rng.random(len(df)) < df["p"]).astype(int)
    return df


def test_evaluate_rankings_intervals_and_gaps() -> None:
    df = _frame()
    scores = {"model": df["p"].to_numpy(), "random": np.random.default_rng(0).random(len(df))}
    m = evaluate_rankings(
        df, scores, ["model"], capacity=5, n_boot=50, seed=1, gaps=[("model", "random")]
    )
    for key in ("roc_auc", "capture_top10", "capture_at_capacity", "brier"):
        assert m["model"][f"{key}_lo"] <= m["model"][key] <= m["model"][f"{key}_hi"]
    assert m["model"]["roc_auc"] > m["random"]["roc_auc"]
    assert np.isnan(m["random"]["brier"])
    gap = m["gap_model_vs_random"]
    assert gap["roc_auc"] == pytest.approx(m["model"]["roc_auc"] - m["random"]["roc_auc"])
    assert gap["roc_auc_lo"] > 0
    again = evaluate_rankings(
        df, scores, ["model"], capacity=5, n_boot=50, seed=1, gaps=[("model", "random")]
    )
    assert pd.DataFrame(again).equals(pd.DataFrame(m))


def test_reliability_table_bins() -> None:
    df = _frame()
    rel = reliability_table(df["label"], df["p"], bins=5, ranker="model")
    assert len(rel) == 5 and rel["rows"].sum() == len(df)
    assert (rel["observed_lo"] <= rel["observed_rate"]).all()
    assert rel["mean_predicted"].is_monotonic_increasing


def test_oracle_probability_hand_example() -> None:
    truth = pd.DataFrame(
        {
            "household_id": ["A"] * 4 + ["B"] * 2,
            "month": pd.to_datetime(
                ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-01-01", "2024-02-01"]
            ),
            "p_trouble": [0.1, 0.1, 0.2, 0.5, 0.3, 0.3],
            "in_trouble": [False, False, False, False, False, True],
        }
    )
    rows = pd.DataFrame(
        {
            "household_id": ["A", "A", "B", "B", "Z"],
            "as_of": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-01-01", "2024-02-01", "2024-01-01"]
            ),
        }
    )
    p = oracle_proba(rows, truth, horizon=2)
    assert p[0] == pytest.approx(1 - 0.9 * 0.9)
    assert p[1] == pytest.approx(1 - 0.8 * 0.5)
    assert p[2] == pytest.approx(1 - 0.7 * 0.7)
    assert p[3] == 1.0  # already in trouble at the snapshot month
    assert np.isnan(p[4])


def test_practice_scores_from_catalog_columns() -> None:
    df = pd.DataFrame(
        {
            "interest_ontime_share_12m": [1.0, 0.5, np.nan, 0.75],
            "interest_sessions_12m": [12, 12, 0, 4],
            "group_arrears_rate_12m": [0.1, np.nan, 0.3, 0.0],
            "extensions_12m": [1, 0, 0, 0],
            "overdues_12m": [0, 0, 0, 0],
        }
    )
    s = practice_scores(df, seed=1)
    assert s["practice_arrears"].tolist() == [0, 6, 0, 1]
    assert s["practice_group_arrears"].tolist() == [0.1, 0.0, 0.3, 0.0]
    assert s["practice_last_year"].tolist() == [1, 1, 0, 1]
    assert np.array_equal(s["random"], practice_scores(df, seed=1)["random"])
    assert "practice_group_arrears" not in practice_scores(
        df.drop(columns="group_arrears_rate_12m")
    )


def test_capacity_and_top_k_group_application_days_by_month() -> None:
    from training.evaluate import period_cells

    frame = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2024-03-02", "2024-03-17", "2024-04-01", "2024-03-30"]),
            "commune_id": ["C1", "C1", "C1", "C2"],
        }
    )
    period, cell = period_cells(frame)
    assert period[0] == period[1] == period[3] != period[2]
    assert cell[0] == cell[1] and len({cell[0], cell[2], cell[3]}) == 3


def test_replicates_bounded_by_the_row_budget(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import training.evaluate as ev

    df = _frame()
    scores = {"model": df["p"].to_numpy()}
    monkeypatch.setattr(ev, "MIN_BOOT", 5)
    monkeypatch.setattr(ev, "BOOT_ROW_BUDGET", len(df) * 20)
    with caplog.at_level("INFO", logger="training.evaluate"):
        capped = evaluate_rankings(df, scores, ["model"], n_boot=50, seed=1)
    assert f"20 replicates of {len(df)} rows (50 asked)" in caplog.text
    asked_20 = evaluate_rankings(df, scores, ["model"], n_boot=20, seed=1)
    assert pd.DataFrame(capped).equals(pd.DataFrame(asked_20))
    monkeypatch.setattr(ev, "BOOT_ROW_BUDGET", 1)
    floor = evaluate_rankings(df, scores, ["model"], n_boot=50, seed=1)
    assert pd.DataFrame(floor).equals(
        pd.DataFrame(evaluate_rankings(df, scores, ["model"], n_boot=5, seed=1))
    )
