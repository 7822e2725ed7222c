"""Fixtures for the training tests: the session district's portfolio table, built once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.mlflow_store import train_small
from training.train import TrainResult


@pytest.fixture(scope="session")
def small_training_data(small_features: dict[str, Path], small_district: Path) -> tuple[Path, Path]:
    """Paths of the small district's portfolio feature table (Parquet) and its truth folder.

    Both are the session's (``tests/conftest.py``), built once per run: not simulated or built
    again here. Read-only: other workers read them at the same time.
    """
    return small_features["portfolio"], small_district / "truth"


@pytest.fixture()
def small_table(small_training_data: tuple[Path, Path]) -> pd.DataFrame:
    """A fresh copy of the small district's portfolio feature table."""
    return pd.read_parquet(small_training_data[0])


@pytest.fixture(scope="session")
def small_truth(small_training_data: tuple[Path, Path]) -> pd.DataFrame:
    """The simulator's truth for the small district."""
    return pd.read_parquet(small_training_data[1])


@pytest.fixture(scope="session")
def small_result(
    small_training_data: tuple[Path, Path],
    small_truth: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainResult:
    """``train_view`` on the small district (portfolio, trouble_12m, with the oracle)."""
    return train_small(small_training_data[0], small_truth, tmp_path_factory.mktemp("train-run"))
