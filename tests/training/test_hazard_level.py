"""The hazard level: exposure by hand, the level recovered on a world with known effect, skips,
the calibrator's two paths, and the trainer's use of it on the small district."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import tracking
from training.hazard_level import (
    DECAY,
    EXPOSURE_COLUMN,
    HazardInputs,
    fit_hazard_level,
    hazard_inputs,
    horizon_exposure,
    integrate,
)
from training.scorer import Calibrator
from training.train import train_view

D = pd.Timestamp


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def test_exposure_by_hand() -> None:
    hazards = pd.DataFrame(
        {
            "commune_id": ["C1", "C1"],
            "start_date": [D("2023-03-15"), D("2019-01-01")],
            "severity": [2, 3],
        }
    )
    rows = pd.DataFrame(
        {
            "commune_id": ["C1", "C1", "C2", "C1", "C1", "C1"],
            "as_of": [
                D("2023-01-01"),  # starts 2 months in: 10 of 12 months left
                D("2023-04-01"),  # started before as_of: known, not in the horizon
                D("2023-01-01"),  # another commune
                D("2022-03-01"),  # starts 12 months later: after the horizon
                D("2022-04-01"),  # starts in the horizon's last month
                D("2023-01-01"),  # (a duplicate row gets the same value)
            ],
        }
    )
    before = rows.copy()
    got = horizon_exposure(rows, hazards, 12)
    first = 2 * (1 - DECAY**10) / (1 - DECAY) / 12
    assert got == pytest.approx([first, 0.0, 0.0, 0.0, 2 / 12, first])
    pd.testing.assert_frame_equal(rows, before)


def _world(n: int, exposure: np.ndarray, seed: int, beta: float = 0.8) -> tuple:
    rng = np.random.default_rng(seed)
    z = rng.normal(-2.5, 1.0, n)
    y = (rng.random(n) < _sigmoid(z + beta * exposure)).astype("int64")
    return z, y


def test_level_integrates_the_hazards_out_of_an_unlucky_validation_year() -> None:
    rng = np.random.default_rng(1)
    climate = np.where(rng.random(400) < 0.4, rng.exponential(1.0, 400), 0.0)
    h_train = rng.choice(climate, 120_000)
    z_train, y_train = _world(len(h_train), h_train, 2)
    h_valid = np.full(60_000, np.quantile(climate, 0.95))  # a severe storm season everywhere
    z_valid, y_valid = _world(len(h_valid), h_valid, 3)
    # a calibrator that took the validation year's realised rate as the level
    shift0 = math.log(y_valid.mean() / (1 - y_valid.mean())) - math.log(
        _sigmoid(z_valid).mean() / (1 - _sigmoid(z_valid).mean())
    )
    p_valid = _sigmoid(z_valid + shift0)
    level, reason = fit_hazard_level(
        lambda: _sigmoid(z_train), y_train, h_train, p_valid, y_valid, h_valid, climate, seed=0
    )
    assert level is not None and "hazard level" in reason
    assert level.beta == pytest.approx(0.8, abs=0.12)
    expected = _sigmoid(z_valid[:, None] + 0.8 * climate[None, :]).mean()  # the true expectation
    got = integrate(p_valid, level.to_params()).mean()
    assert abs(got / expected - 1) < 0.06
    assert p_valid.mean() / expected - 1 > 0.25  # what the plain level would have served


def test_effect_taken_from_an_exposed_validation_year_the_booster_has_not_seen() -> None:
    rng = np.random.default_rng(7)
    climate = np.where(rng.random(400) < 0.4, rng.exponential(1.0, 400), 0.0)
    h_valid = rng.choice(climate, 80_000) * 1.5  # a worse year than the history's
    z_valid, y_valid = _world(len(h_valid), h_valid, 8, beta=0.6)
    p_valid = _sigmoid(z_valid + 0.3)  # a level taken from the realised rate

    def not_needed() -> np.ndarray:
        raise AssertionError("the training rows are not scored when validation tells the effect")

    level, reason = fit_hazard_level(
        not_needed, y_valid, h_valid, p_valid, y_valid, h_valid, climate, seed=0
    )
    assert level is not None and "on the validation window" in reason
    assert level.beta == pytest.approx(0.6, abs=0.1)
    assert level.shift == pytest.approx(-0.3, abs=0.06)
    expected = _sigmoid(z_valid[:, None] + 0.6 * climate[None, :]).mean()
    assert integrate(p_valid, level.to_params()).mean() == pytest.approx(expected, rel=0.05)


def test_skipped_without_exposed_positives_or_without_an_effect() -> None:
    rng = np.random.default_rng(4)
    z, y = _world(20_000, np.zeros(20_000), 5)
    p = _sigmoid(z)
    none, why = fit_hazard_level(
        lambda: p, y, np.zeros(len(y)), p, y, np.zeros(len(y)), np.ones(5), 0
    )
    assert none is None and "fewer than" in why
    h = rng.exponential(1.0, len(y))
    z2, y2 = _world(len(y), h, 6, beta=-0.8)  # exposure that lowers risk: not a hazard effect
    for_valid = fit_hazard_level(lambda: _sigmoid(z2), y2, h, _sigmoid(z2), y2, h, h, 0)
    calm = np.zeros(len(y))
    for_train = fit_hazard_level(lambda: _sigmoid(z2), y2, h, p, y, calm, h, 0)
    for (none, why), where in ((for_valid, "validation"), (for_train, "training")):
        assert none is None and "no positive effect" in why and f"the {where} window" in why


def test_inputs_say_why_they_are_missing() -> None:
    table = pd.DataFrame({"household_id": ["A"], "as_of": [D("2023-01-01")]})
    hz = pd.DataFrame({"commune_id": ["C1"], "start_date": [D("2023-02-01")], "severity": [1]})
    assert hazard_inputs(table, None, 12)[1].endswith("no hazard table (hazard_events) was given")
    assert "no commune_id" in hazard_inputs(table, hz, 12)[1]
    got, note = hazard_inputs(table.assign(commune_id="C1"), hz, 12)
    assert isinstance(got, HazardInputs) and note == ""
    assert (
        "lacks ['severity']"
        in hazard_inputs(table.assign(commune_id="C1"), hz.drop(columns="severity"), 12)[1]
    )


@pytest.mark.parametrize("method", ["platt", "isotonic", "none"])
def test_calibrator_paths_agree_and_round_trip(method: str) -> None:
    params = {
        "platt": {"a": 0.9, "b": -0.2},
        "isotonic": {"x": [0.0, 0.1, 0.5, 1.0], "y": [0.0, 0.05, 0.4, 0.9]},
        "none": {},
    }[method]
    level = {"shift": -0.3, "beta": 0.7, "exposure": [0.0, 0.0, 0.4, 1.5]}
    cal = Calibrator(method, params).with_params(hazard=level)
    raw = np.array([0.02, 0.08, 0.3, 0.7])
    got = cal(raw)
    assert [cal.one(float(r)) for r in raw] == pytest.approx(list(got), rel=1e-12)
    base = Calibrator(method, params)(raw)
    assert np.all(np.diff(got) > 0)  # still monotone in the raw score
    assert not np.allclose(got, base)
    again = Calibrator.from_json(cal.to_json())
    assert again(raw) == pytest.approx(got, rel=1e-15)


def test_trainer_applies_it_on_the_small_district(
    small_table: pd.DataFrame, small_district: Path, tmp_path: Path
) -> None:
    from features import storage

    recorded = storage.read_raw(small_district, "hazard_events")
    r = train_view(small_table, "trouble_12m", "portfolio", tmp_path, n_boot=0, hazards=recorded)
    assert "hazard level" in r.scorer.meta["calibration_reason"]  # applied or why not

    # hazards every nine months, and trouble that follows them (labels of exposed rows turned
    # positive by a seeded draw, in proportion to the exposure): the trainer must find and use it
    months = pd.date_range(small_table["as_of"].min(), small_table["as_of"].max(), freq="9MS")
    hazards = pd.DataFrame(
        {
            "commune_id": small_table["commune_id"].iloc[0],
            "start_date": months + pd.DateOffset(months=1),
            "severity": 3,
        }
    )
    h = horizon_exposure(small_table, hazards, 12)
    flip = np.random.default_rng(5).random(len(h)) < 0.25 * h / h.max()
    struck = small_table.copy()
    struck.loc[flip & struck["trouble_12m"].notna().to_numpy(), "trouble_12m"] = 1
    r = train_view(struck, "trouble_12m", "portfolio", tmp_path / "hz", n_boot=0, hazards=hazards)
    cal = r.scorer.calibrator
    assert "hazard" in cal.params, r.scorer.meta["calibration_reason"]
    assert cal.params["hazard"]["beta"] > 0 and len(cal.params["hazard"]["exposure"]) == 50
    raw = r.scorer.raw_proba(small_table.head(200))
    plain = Calibrator(cal.method, {k: v for k, v in cal.params.items() if k != "hazard"})
    assert not np.allclose(cal(raw), plain(raw))
    assert (r.backtest["ranker"] == "lightgbm").sum() >= 2  # backtest refits took it too

    # the test window carries each row's realised exposure to the gate, and the probability at
    # it is the integrand of the served one
    window = tracking.test_window_rows(struck, r.test_frame, r.scorer.inputs, "trouble_12m")
    assert len(window) == len(r.test_frame)
    keyed = window.merge(r.test_frame, on=["household_id", "as_of"], suffixes=("", "_t"))
    np.testing.assert_allclose(keyed[EXPOSURE_COLUMN], horizon_exposure(keyed, hazards, 12))
    assert keyed[EXPOSURE_COLUMN].gt(0).all() and keyed[EXPOSURE_COLUMN].nunique() > 1
    rows = window.head(300)
    at = [
        r.scorer.predict_proba_at(rows, np.full(len(rows), h))
        for h in cal.params["hazard"]["exposure"]
    ]
    np.testing.assert_allclose(np.mean(at, axis=0), r.scorer.predict_proba(rows), rtol=1e-10)
    hit = r.scorer.predict_proba_at(rows, rows[EXPOSURE_COLUMN].to_numpy())
    calm = r.scorer.predict_proba_at(rows, np.zeros(len(rows)))
    assert np.all(hit >= calm) and np.any(hit > calm)  # beta > 0: struck rows are riskier

    bare = train_view(small_table, "trouble_12m", "portfolio", tmp_path / "bare", n_boot=0)
    assert "hazard" not in bare.scorer.calibrator.params
    assert bare.params["hazard_level_note"].startswith("hazard level not applied")
    assert EXPOSURE_COLUMN not in bare.test_frame.columns
    assert bare.scorer.predict_proba_at(small_table.head(5), np.zeros(5)) is None


def test_the_pipeline_reads_the_data_folders_hazard_events(
    small_district: Path, tmp_path: Path
) -> None:
    from training.pipeline import hazard_events

    got = hazard_events(small_district)
    assert got is not None and len(got) > 0
    assert {"commune_id", "start_date", "severity"} <= set(got.columns)
    assert hazard_events(tmp_path) is None and hazard_events(None) is None


def test_a_pool_without_commune_is_no_crash_and_says_why(
    small_table: pd.DataFrame, small_district: Path, tmp_path: Path
) -> None:
    from features import storage

    hazards = storage.read_raw(small_district, "hazard_events")
    pool = small_table.drop(columns="commune_id")
    r = train_view(
        small_table, "trouble_12m", "portfolio", tmp_path, n_boot=0, pool=pool, hazards=hazards
    )
    assert r.params["hazard_level_note"].endswith("the pool table has no commune_id")
    assert "hazard" not in r.scorer.calibrator.params


@pytest.mark.parametrize(
    "hazard",
    [
        {"shift": 0.1, "beta": 0.5, "exposure": []},
        {"shift": 0.1, "beta": float("nan"), "exposure": [0.0, 1.0]},
        {"shift": 0.1, "exposure": [0.0, 1.0]},
        {"shift": 0.1, "beta": 0.5, "exposure": [0.0, "x"]},
    ],
)
def test_a_broken_stored_level_is_refused_by_name(hazard: dict) -> None:
    text = Calibrator("platt", {"a": 1.0, "b": 0.0}).with_params(hazard=hazard).to_json()
    with pytest.raises(ValueError, match="calibrator.json: hazard must hold"):
        Calibrator.from_json(text)
