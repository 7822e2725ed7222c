"""The booster's matrix from feature vectors: codes, missing values, and the service's path that
encodes a stored row once (equal to encoding the assembled vector every time)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from serving import feature_matrix
from serving.feature_matrix import FeatureMatrix

NAMES = ("debt", "program", "app_amount", "app_purpose")
CODES = {"program": {"poor": 0, "student": 1}, "app_purpose": {"livestock": 0, "crops": 1}}


def stored(i: int, **features: object) -> dict:
    return {
        "entity_type": "household",
        "workers": 2,
        "features": {"debt": float(i), "program": "poor", **features},
    }


def test_matrix_maps_categories_and_makes_missing_nan() -> None:
    fm = FeatureMatrix(NAMES, CODES)
    x = fm.matrix(
        [
            {"debt": 1.5, "program": "student", "app_amount": 10, "app_purpose": "crops"},
            {"debt": None, "program": "no-such", "app_amount": math.inf, "app_purpose": None},
            {"debt": True, "program": None},
        ]
    )
    expected = [
        [1.5, 1.0, 10.0, 1.0],
        [np.nan, np.nan, np.nan, np.nan],
        [1.0, np.nan, np.nan, np.nan],
    ]
    np.testing.assert_array_equal(x, np.array(expected))


@pytest.mark.parametrize(
    "application",
    [
        {"app_amount": 5e6, "app_purpose": "livestock"},
        {"app_amount": -math.inf, "app_purpose": "unknown"},
        {"app_amount": None, "app_purpose": None},
        {"app_amount": 7.0, "app_purpose": "crops", "not_a_feature": 3.0},
    ],
)
def test_application_matrix_equals_the_matrix_of_merged_vectors(application: dict) -> None:
    fm = FeatureMatrix(NAMES, CODES)
    rows = [stored(1), stored(2, debt=None, program="student"), stored(3, app_amount=99.0)]
    for _ in range(2):  # encoded, then from the cache
        x = fm.application_matrix(rows, [application] * len(rows))
        merged = [{**r["features"], **application} for r in rows]
        np.testing.assert_array_equal(x, fm.matrix(merged))


def test_the_row_cache_is_bounded_and_keyed_by_the_row_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feature_matrix, "HISTORY_CACHE_ROWS", 2)
    fm = FeatureMatrix(NAMES, CODES)
    rows = [stored(i) for i in range(5)]
    app = {"app_amount": 1.0, "app_purpose": "crops"}
    first = fm.application_matrix(rows, [app] * 5)
    assert len(fm._history_cache) <= 2
    np.testing.assert_array_equal(fm.application_matrix(rows, [app] * 5), first)
    copy = {**rows[0], "features": {**rows[0]["features"], "debt": 42.0}}  # another object
    assert fm.application_matrix([copy], [app])[0, 0] == 42.0


def test_money_is_read_in_todays_money_on_every_path() -> None:
    import pandas as pd

    from training.scorer import Calibrator, Scorer
    from training.todays_money import MoneyScale

    money = MoneyScale("district_typical_loan", ("debt", "app_amount"))
    fm = FeatureMatrix(NAMES, CODES, money)
    rows = [
        stored(1, district_typical_loan=4.0),
        stored(2, program="student", district_typical_loan=8.0),
        stored(3, district_typical_loan=None),  # no scale: money unknown
    ]
    applications = [{"app_amount": 10.0, "app_purpose": "crops"}] * 3
    merged = [{**r["features"], **a} for r, a in zip(rows, applications, strict=True)]
    for _ in range(2):  # encoded, then from the cache
        x = fm.application_matrix(rows, applications)
        np.testing.assert_array_equal(x, fm.matrix(merged))
    np.testing.assert_array_equal(x[:, 0], [0.25, 0.25, np.nan])
    np.testing.assert_array_equal(x[:, 2], [2.5, 1.25, np.nan])
    frame = pd.DataFrame(merged)
    np.testing.assert_array_equal(fm.matrix_from_frame(frame), x)
    # the scorer's pandas path (training, the pyfunc, batch scoring) gives the same numbers
    categorical = {"program": ["poor", "student"], "app_purpose": ["livestock", "crops"]}
    scorer = Scorer(None, Calibrator(), list(NAMES), categorical, {"money": money.to_params()})  # type: ignore[arg-type]
    pandas_x = scorer.frame(frame)
    np.testing.assert_array_equal(pandas_x[["debt", "app_amount"]].to_numpy(), x[:, [0, 2]])
