"""Shared fixtures: simulated districts built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.simulator import SimConfig, simulate

SMALL = SimConfig(households=600, seed=7, start="2019-01", end="2025-12")


@pytest.fixture(scope="session")
def small_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated district (600 borrowers, 7 years) shared by integration tests."""
    out = tmp_path_factory.mktemp("small-district")
    simulate(out, SMALL)
    return out


@pytest.fixture(scope="session")
def default_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default (Dakrong-size) district, for calibration tests only."""
    out = tmp_path_factory.mktemp("default-district")
    simulate(out, SimConfig())
    return out
