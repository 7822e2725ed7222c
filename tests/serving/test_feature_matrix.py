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
