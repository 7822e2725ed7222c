"""The gate's calibration checks at the window's realised hazards (training.gate.gate_checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.gate import RATE_TOLERANCE, gate_checks


def _window(n: int = 4000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """A test window whose labels follow ``p`` exactly (so ``p`` is calibrated)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-rng.normal(-2.5, 0.8, n)))
    frame = pd.DataFrame(
        {
            "household_id": [f"H{i % 1500}" for i in range(n)],
            "as_of": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 12, n) * 31, "D"),
            "trouble_12m": (rng.random(n) < p).astype("int64"),
        }
    )
    return frame, p


def test_a_calm_window_is_judged_at_its_hazards_not_at_the_climatology() -> None:
    frame, p = _window()
    served = p * 1.4  # the history's storms averaged in: 40 % above a calm window's rate
    checks, figures, lines = gate_checks(frame, "trouble_12m", served, None, n_boot=20)
    assert not checks["calibration_rate"]  # judged as served: refused for the weather
    assert figures["candidate.rate_error"] > RATE_TOLERANCE

    checks, figures, lines = gate_checks(
        frame, "trouble_12m", served, None, n_boot=20, at_hazards=p
    )
    assert checks["calibration_rate"] and checks["calibration_slope"]
    assert abs(figures["candidate.predicted_rate_at_hazards"] - p.mean()) < 1e-12
    assert abs(figures["candidate.rate_error"]) < RATE_TOLERANCE
    assert figures["candidate.predicted_rate"] > 1.3 * p.mean()  # the served figures are kept
    assert figures["candidate.rate_error_served"] > RATE_TOLERANCE
    rate_line = next(line for line in lines if "predicted rate" in line)
    assert "at the window's realised hazards" in rate_line and "served" in rate_line


def test_at_hazards_is_no_free_pass() -> None:
    frame, p = _window(seed=2)
    # served right on average, but the model's claim at the hazards that struck is far off
    checks, figures, _ = gate_checks(
        frame, "trouble_12m", p, None, n_boot=20, at_hazards=np.clip(p * 1.6, 0, 1)
    )
    assert not checks["calibration_rate"]
    assert figures["candidate.rate_error"] > RATE_TOLERANCE
    # a slope far from 1 at the hazards fails whatever the served slope says
    z = np.log(p / (1 - p))
    flat = 1.0 / (1.0 + np.exp(-(0.4 * (z - z.mean()) + z.mean())))
    checks, figures, _ = gate_checks(frame, "trouble_12m", p, None, n_boot=20, at_hazards=flat)
    assert not checks["calibration_slope"]
    assert figures["candidate.calibration_slope_at_hazards"] > 1.2
