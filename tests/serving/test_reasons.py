"""Top reasons from per-prediction contributions (serving.reasons)."""

from __future__ import annotations

import numpy as np

from features.catalog import all_feature_names
from serving.reasons import top_reasons


def test_largest_positive_contributions_first_ties_in_model_order() -> None:
    names = all_feature_names("application")[:6]
    contrib = np.array([0.1, 0.5, -0.2, 0.5, 0.0, 0.3, -1.0])  # last value: the base
    vector = {n: 1.0 for n in names}
    got = top_reasons(names, contrib, vector, k=3)
    expected = np.argsort(-contrib[:6], kind="stable")[:3]  # the reference ordering
    assert [r["feature"] for r in got] == [names[j] for j in expected]
    assert [r["contribution"] for r in got] == [0.5, 0.5, 0.3]
    assert all(r["text_en"] and r["text_vi"] for r in got)


def test_only_features_pushing_the_risk_up_are_reasons() -> None:
    names = all_feature_names("application")[:3]
    got = top_reasons(names, np.array([-0.1, 1e-9, 0.2, 0.0]), {n: 0.0 for n in names})
    assert [r["feature"] for r in got] == [names[2]]
    assert top_reasons(names, np.array([-0.1, -0.2, 0.0, 0.0]), {}) == []
