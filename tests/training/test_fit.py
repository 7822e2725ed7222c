"""Model fitting: catalog constraints, behaviour of the trained scorer, calibration, challenger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.fit import (
    ISOTONIC_MIN_POSITIVES,
    SLOPE_MIN_POSITIVES,
    feature_spec,
    fit_calibrator,
    fit_logistic,
    monotone_constraints,
)
from training.scorer import Calibrator, Scorer
from training.train import TrainResult


def test_monotone_constraints_follow_the_catalog() -> None:
    names = [
        "arrears_streak_current",
        "months_since_arrears",
        "main_program",
        "my_extra",
        "group_members",
        "group_rating_dropped",
    ]
    cons = dict(zip(names, monotone_constraints(names, {"main_program": []}), strict=True))
    assert cons == {
        "arrears_streak_current": 1,
        "months_since_arrears": -1,
        "main_program": 0,
        "my_extra": 0,
        "group_members": 0,
        "group_rating_dropped": 1,
    }


def test_feature_spec_uses_catalog_categories(small_table: pd.DataFrame) -> None:
    small_table["extra_cat"] = pd.Categorical(["a"] * len(small_table), categories=["a", "b"])
    names, cats = feature_spec(small_table)
    assert "trouble_12m" not in names and "overdue_12m" not in names
    assert "household_id" not in names and "commune_id" not in names
    assert cats["extra_cat"] == ["a", "b"]
    assert "poor" in cats["poverty_status"] or len(cats["poverty_status"]) > 0


def test_level_comes_from_the_latest_validation_months() -> None:
    """A two-year validation window whose first year ran at twice the trouble rate: the
    calibrated mean follows the latest year, the slope and the ranking are kept."""
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.01, 0.15, 6000)
    recent = np.arange(raw.size) >= 3000
    y = (rng.random(raw.size) < np.where(recent, 0.6, 1.2) * raw).astype(int)
    whole, _ = fit_calibrator(raw, y)
    cal, reason = fit_calibrator(raw, y, recent)
    assert cal(raw[recent]).mean() == pytest.approx(y[recent].mean(), rel=1e-6)
    assert whole(raw[recent]).mean() > 1.2 * y[recent].mean()  # the old level, well above
    assert cal.params["a"] == whole.params["a"] and "latest 12 months" in reason
    assert np.array_equal(np.argsort(cal(raw)), np.argsort(raw))
    few = recent & (np.arange(raw.size) < 3200)  # too few positives: the whole window's level
    assert fit_calibrator(raw, y, few)[0].params == whole.params
    all_recent, _ = fit_calibrator(raw, y, np.ones(raw.size, dtype=bool))
    assert all_recent.params == whole.params


@pytest.mark.parametrize(
    ("feature", "sign"),
    [("arrears_streak_current", 1), ("extensions_12m", 1), ("interest_ontime_share_12m", -1)],
)
def test_more_arrears_never_lowers_the_risk(
    small_result: TrainResult, small_table: pd.DataFrame, feature: str, sign: int
) -> None:
    rows = small_table.sample(100, random_state=0).reset_index(drop=True)
    grid = np.linspace(0, 1, 11) if "share" in feature else np.arange(0, 13)
    probs = []
    for v in grid:
        x = rows.copy()
        x[feature] = np.asarray(v).astype(x[feature].dtype)
        probs.append(small_result.scorer.predict_proba(x))
    diffs = sign * np.diff(np.vstack(probs), axis=0)
    assert (diffs >= -1e-12).all()


def test_scorer_round_trip(small_result: TrainResult, small_table: pd.DataFrame, tmp_path) -> None:
    folder = small_result.scorer.save(tmp_path / "scorer")
    again = Scorer.load(folder)
    rows = small_table.head(300)
    assert np.array_equal(again.predict_proba(rows), small_result.scorer.predict_proba(rows))
    assert again.meta["label"] == "trouble_12m"


def test_calibrator_method_depends_on_positives() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.001, 0.3, 5000)
    true_p = 1 / (1 + np.exp(-(1.5 * np.log(raw / (1 - raw)) + 1.0)))
    y = (rng.random(raw.size) < true_p).astype(int)
    cal, reason = fit_calibrator(raw, y)
    assert y.sum() < ISOTONIC_MIN_POSITIVES
    assert cal.method == "platt" and "platt" in reason
    assert cal.params["a"] == pytest.approx(1.5, abs=0.25)
    assert cal.params["b"] == pytest.approx(1.0, abs=0.4)
    big = rng.uniform(0.001, 0.3, 40000)
    y_big = (rng.random(big.size) < big).astype(int)
    cal, reason = fit_calibrator(big, y_big)
    assert y_big.sum() >= ISOTONIC_MIN_POSITIVES
    assert cal.method == "isotonic" and "isotonic" in reason
    out = cal(np.sort(big))
    assert (np.diff(out) >= 0).all()
    assert fit_calibrator(raw, np.zeros(raw.size))[0].method == "none"


def test_logistic_challenger_handles_missing_categories_and_booleans() -> None:
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame(
        {
            "arrears_streak_current": rng.integers(0, 4, n),
            "savings_balance": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(1e6, n)),
            "commune_is_remote": rng.random(n) < 0.5,
            "main_program": pd.Categorical(
                np.where(rng.random(n) < 0.2, None, "poor_households"),
                categories=["poor_households", "near_poor"],
            ),
        }
    )
    y = (rng.random(n) < 0.1 + 0.2 * (df["arrears_streak_current"] > 1)).astype(int)
    names = list(df.columns)
    pipe = fit_logistic(df, y, names, {"main_program": ["poor_households", "near_poor"]})
    p = pipe.predict_proba(df[names])[:, 1]
    assert ((p > 0) & (p < 1)).all()
    assert p[df["arrears_streak_current"] > 1].mean() > p[df["arrears_streak_current"] <= 1].mean()


def test_a_slope_near_one_or_too_few_positives_get_an_intercept_only_calibration() -> None:
    rng = np.random.default_rng(2)
    raw = rng.uniform(0.01, 0.15, 3000)
    y = (rng.random(raw.size) < 0.7 * raw).astype(int)  # the raw logit's slope is about 1
    assert y.sum() >= SLOPE_MIN_POSITIVES
    cal, reason = fit_calibrator(raw, y)
    assert cal.method == "platt" and cal.params["a"] == 1.0 and "intercept only" in reason
    assert "within 1.96 s.e. of 1" in reason
    assert cal(raw).mean() == pytest.approx(y.mean(), rel=1e-6)
    assert np.array_equal(np.argsort(cal(raw)), np.argsort(raw))
    few = raw[:800], y[:800]
    assert few[1].sum() < SLOPE_MIN_POSITIVES
    cal, reason = fit_calibrator(*few)
    assert cal.params["a"] == 1.0 and "too few to test a slope" in reason


def test_an_under_dispersed_booster_gets_its_slope_from_a_small_window() -> None:
    """A few hundred positives, raw logits squeezed to 0.7 of the truth (as early stopping after
    a few dozen rounds leaves them): the slope is estimated, and it is about 1 / 0.7."""
    rng = np.random.default_rng(4)
    true_z = rng.normal(-2.6, 1.0, 3000)
    y = (rng.random(true_z.size) < 1 / (1 + np.exp(-true_z))).astype(int)
    raw = 1 / (1 + np.exp(-(0.7 * true_z - 0.8)))
    assert SLOPE_MIN_POSITIVES <= y.sum() < ISOTONIC_MIN_POSITIVES
    cal, reason = fit_calibrator(raw, y)
    assert cal.method == "platt" and "off 1" in reason
    assert cal.params["a"] == pytest.approx(1 / 0.7, abs=0.25)


@pytest.mark.parametrize(
    "cal",
    [
        Calibrator("platt", {"a": 1.3, "b": -0.4}),
        Calibrator("isotonic", {"x": [0.0, 0.05, 0.2, 1.0], "y": [0.01, 0.04, 0.3, 0.9]}),
        Calibrator("none"),
    ],
    ids=lambda c: c.method,
)
def test_one_probability_is_calibrated_as_an_array_is(cal: Calibrator) -> None:
    raw = np.concatenate(
        [[0.0, 1e-12, 0.05, 0.5, 1.0 - 1e-12, 1.0], np.random.default_rng(3).uniform(0, 1, 200)]
    )
    as_array = cal(raw)
    assert [cal.one(float(r)) for r in raw] == pytest.approx(as_array.tolist(), rel=0, abs=1e-15)


def test_an_inverted_slope_keeps_the_ranking_and_takes_the_level_only() -> None:
    rng = np.random.default_rng(6)
    raw = rng.uniform(0.01, 0.3, 4000)
    y = (rng.random(raw.size) < 0.31 - raw).astype(int)  # the window ranks the other way
    cal, reason = fit_calibrator(raw, y)
    assert cal.params["a"] == 1.0 and "<= 0" in reason and "intercept only" in reason
    assert np.array_equal(np.argsort(cal(raw)), np.argsort(raw))
    assert cal(raw).mean() == pytest.approx(y.mean(), rel=1e-6)
