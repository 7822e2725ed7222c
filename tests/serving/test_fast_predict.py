"""The one-row fast path gives exactly what ``Booster.predict`` gives."""

from __future__ import annotations

import gc

import lightgbm as lgb
import numpy as np
import pytest

from serving.fast_predict import SingleRowPredictor


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 5))
    x[:, 4] = rng.integers(0, 4, 2000)  # a categorical column
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 4] == 2) + rng.normal(size=2000) > 1).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1}
    return lgb.train(params, lgb.Dataset(x, y, categorical_feature=[4]), num_boost_round=30)


def test_probability_and_contributions_equal_booster_predict(booster: lgb.Booster) -> None:
    fast = SingleRowPredictor(booster, 5)
    rows = np.random.default_rng(4).normal(size=(50, 5))
    rows[:, 4] = np.arange(50) % 6  # codes 4 and 5 were never seen
    rows[::7, 1] = np.nan
    expected = booster.predict(rows)
    contrib = booster.predict(rows, pred_contrib=True)
    for i, row in enumerate(rows):
        assert fast.probability(row) == expected[i]
        assert np.array_equal(fast.contributions(row), contrib[i])
    assert len({round(fast.probability(r), 12) for r in rows}) > 5  # rows really differ


def test_results_are_copies_and_shapes_are_checked(booster: lgb.Booster) -> None:
    fast = SingleRowPredictor(booster, 5)
    a = fast.contributions(np.zeros(5))
    fast.contributions(np.ones(5))
    assert np.array_equal(a, booster.predict(np.zeros((1, 5)), pred_contrib=True)[0])
    with pytest.raises(ValueError, match="one row of 5 features"):
        fast.probability(np.zeros(4))
    rows = np.asfortranarray(np.random.default_rng(5).normal(size=(3, 5)))
    for row in (rows[1], rows[2].astype(np.float32)):  # strided, then single precision
        expected = booster.predict(np.ascontiguousarray(row, dtype=np.float64).reshape(1, 5))
        assert fast.probability(row) == expected[0]


def test_freed_with_the_predictor(booster: lgb.Booster) -> None:
    for _ in range(200):  # would leak (or crash on a double free) if handles were mishandled
        SingleRowPredictor(booster, 5).probability(np.zeros(5))
    gc.collect()
    assert (
        SingleRowPredictor(booster, 5).probability(np.zeros(5))
        == booster.predict(np.zeros((1, 5)))[0]
    )
