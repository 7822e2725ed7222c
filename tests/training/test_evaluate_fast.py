"""The bootstrap's shortcuts against the plain computations they replace.

A replicate (:meth:`training.evaluate.RankingEvaluator.replicate`) must give what
``metrics(w)`` gives for the same household draw; visit lists read from prefix sums
(``take_cut``) what the block-by-block clip gives (``take``); and the calibration refit started
from the point estimate what the full Newton fit gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluate import (
    GAP_METRICS,
    RankingEvaluator,
    _bootstrap,
    calibration_fit,
    calibration_refit,
    codes,
    evaluate_rankings,
    period_cells,
)

EXACT = ("observed_rate", "roc_auc", "pr_auc", "ks")
"""Metrics a replicate computes with the same sums in the same order as ``metrics(w)``."""


def _frame(n_hh: int = 150, months: int = 6, seed: int = 7) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "household_id": np.tile([f"H{i}" for i in range(n_hh)], months),
            "as_of": np.repeat(pd.date_range("2024-01-01", periods=months, freq="MS"), n_hh),
            "commune_id": np.tile([f"C{i % 7}" for i in range(n_hh)], months),
        }
    )
    risk = np.tile(rng.normal(size=n_hh), months) + 0.5 * rng.normal(size=len(frame))
    p = 1 / (1 + np.exp(-(risk - 1.5)))
    frame["label"] = (rng.random(len(frame)) < p).astype(int)
    scores = {
        "model": p,
        "rounded": np.round(p, 2),  # ties, as an isotonic calibration makes
        "practice": np.floor(np.clip(risk, 0, None) * 2),  # many ties, not a probability
        "random": rng.random(len(frame)),
    }
    return frame, scores


def _reference_loop(frame: pd.DataFrame, evaluators: dict, n_boot: int, seed: int) -> dict:
    """The bootstrap as it was written first: ``metrics(w)`` of every draw."""
    hh = codes(frame["household_id"])
    n_hh = int(hh.max()) + 1
    rng = np.random.default_rng(seed)
    reps: dict[str, list[dict[str, float]]] = {name: [] for name in evaluators}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_hh, n_hh), minlength=n_hh).astype("float64")
        for name, ev in evaluators.items():
            reps[name].append(ev.metrics(counts[hh]))
    return {name: pd.DataFrame(r) for name, r in reps.items()}


def _evaluators(frame: pd.DataFrame, scores: dict, probas: tuple[str, ...]) -> dict:
    y = frame["label"].to_numpy()
    period, cell = period_cells(frame)
    evs = {n: RankingEvaluator(y, s, period, cell, 3, n in probas) for n, s in scores.items()}
    for ev in evs.values():
        ev.metrics()  # the point estimate, which the calibration refits start from
    return evs


def test_replicates_equal_the_metrics_of_each_draw() -> None:
    frame, scores = _frame()
    probas = ("model", "rounded")
    reference = _reference_loop(frame, _evaluators(frame, scores, probas), 40, seed=3)
    gaps = [("model", "practice")]
    fast = _bootstrap(
        _evaluators(frame, scores, probas), gaps, codes(frame["household_id"]), 40, seed=3
    )
    for name, ref in reference.items():
        assert set(fast[name]) == set(ref.columns), name
        for key in ref.columns:
            want, got = ref[key].to_numpy("float64"), fast[name][key]
            if key in EXACT:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {key}")
            else:
                np.testing.assert_allclose(
                    got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name} {key}"
                )
        assert np.isnan(fast["practice"]["brier"]).all()
    gap = fast["gap_model_vs_practice"]
    assert set(gap) == set(GAP_METRICS)
    np.testing.assert_allclose(
        gap["roc_auc"], reference["model"]["roc_auc"] - reference["practice"]["roc_auc"]
    )


def test_evaluate_rankings_intervals_are_the_reference_percentiles() -> None:
    frame, scores = _frame(seed=8)
    m = evaluate_rankings(frame, scores, ["model", "rounded"], capacity=3, n_boot=60, seed=5)
    reference = _reference_loop(frame, _evaluators(frame, scores, ("model", "rounded")), 60, 5)
    for name, ref in reference.items():
        for key in ("roc_auc", "capture_top5", "capture_at_capacity", "brier"):
            vals = ref[key].dropna().to_numpy()
            if not vals.size:
                assert np.isnan(m[name][f"{key}_lo"])
                continue
            lo, hi = np.percentile(vals, [2.5, 97.5])
            assert m[name][f"{key}_lo"] == pytest.approx(lo, abs=1e-12), (name, key)
            assert m[name][f"{key}_hi"] == pytest.approx(hi, abs=1e-12), (name, key)


@pytest.mark.parametrize("relative", [True, False])
def test_visits_from_prefix_sums_equal_the_block_clip(relative: bool) -> None:
    rng = np.random.default_rng(11)
    n = 500
    y = (rng.random(n) < 0.2).astype(int)
    s = np.round(rng.random(n), 1)  # tie blocks, which a budget cuts through
    group = rng.integers(0, 9, n)
    w = rng.random(n) * (rng.random(n) < 0.8)  # fractional weights, some rows weightless
    ev = RankingEvaluator(y, s, group, group, 1, False)
    visits = ev.grouping("period").visits(*ev.grouping("period").sums(w))
    budgets = (0.0, 0.013, 0.1, 0.5, 0.999, 1.0, 1.7) if relative else (0.0, 0.3, 2.0, 9.5, 1e3)
    for budget in budgets:
        want = visits.take(budget, relative)
        assert visits.take_cut(budget, relative) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_calibration_refit_equals_the_full_newton_fit() -> None:
    rng = np.random.default_rng(12)
    for trial in range(20):
        n = int(rng.integers(200, 5000))
        z = rng.normal(-2.0, 1.5, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * z)))).astype(float)
        point = np.array(calibration_fit(y, z))
        w = rng.poisson(1.0, n).astype(float)
        keep = w > 0
        want = calibration_fit(y, z, w, start=point)
        got = calibration_refit(y[keep], z[keep], w[keep], point)
        assert got == pytest.approx(want, abs=1e-8), trial
        far = calibration_refit(y[keep], z[keep], w[keep], np.array([0.0, 1.0]))
        assert far == pytest.approx(want, abs=1e-8), trial


def test_calibration_refit_of_one_class_is_undefined() -> None:
    z = np.linspace(-3, 1, 50)
    assert np.isnan(calibration_refit(np.zeros(50), z, np.ones(50), np.array([0.0, 1.0]))).all()
    assert np.isnan(calibration_refit(np.ones(50), z, np.ones(50), np.array([0.0, 1.0]))).all()


def test_fixed_round_refit_is_the_booster_watched_every_round() -> None:
    import lightgbm as lgb

    from training.fit import fit_lightgbm, lightgbm_params

    rng = np.random.default_rng(13)
    x = pd.DataFrame(rng.normal(size=(3000, 5)), columns=[f"f{i}" for i in range(5)])
    y = (rng.random(3000) < 1 / (1 + np.exp(-(x["f0"] - 2)))).to_numpy().astype(int)
    xv, yv = x.iloc[:1000], y[:1000]
    params = lightgbm_params(3, int(y.sum()), len(y))
    booster, info = fit_lightgbm(x, y, xv, yv, params, [1, 0, 0, 0, 0], 40, 0)
    # what the refit did before: the validation window scored by LightGBM after every round
    p = {**params, "monotone_constraints": [1, 0, 0, 0, 0]}
    dtrain = lgb.Dataset(x, label=y, free_raw_data=False)
    evals: dict = {}
    watched = lgb.train(
        p,
        dtrain,
        num_boost_round=40,
        valid_sets=[lgb.Dataset(xv, label=yv, reference=dtrain)],
        valid_names=["valid"],
        callbacks=[lgb.record_evaluation(evals)],
    )
    assert booster.model_to_string() == watched.model_to_string()
    assert info["num_boost_round"] == 40
    assert info["valid_logloss"] == pytest.approx(evals["valid"]["binary_logloss"][-1], rel=1e-9)
    assert info["valid_auc"] == pytest.approx(evals["valid"]["auc"][-1], rel=1e-9)
