"""Fixtures for the training tests: the small district's portfolio table, built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_feature_table
from features.simulator import SimConfig, simulate
from features.validation import load_tables
from training.train import TrainResult, train_view

SMALL = SimConfig(households=600, seed=7, start="2019-01", end="2025-12")
N_BOOT = 30


@pytest.fixture(scope="session")
def small_training_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Paths of the small district's portfolio feature table (Parquet) and its truth folder."""
    out = tmp_path_factory.mktemp("training-district")
    simulate(out, SMALL)
    table = build_feature_table(load_tables(out), "portfolio", "2025-12-31")
    path = out / "portfolio.parquet"
    table.to_parquet(path)
    return path, out / "truth"


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
    table = pd.read_parquet(small_training_data[0])
    out = tmp_path_factory.mktemp("train-run")
    return train_view(table, "trouble_12m", "portfolio", out, seed=42, truth=small_truth,
                      n_boot=N_BOOT)  # fmt: skip


def fresh_mlflow_store(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A fresh MLflow store, service database and state folder for one test module."""
    import mlflow

    from training import tracking

    folder = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{(folder / 'mlflow.db').as_posix()}")
        mp.setenv("VBSP_RISK_DATABASE_URL", f"sqlite:///{(folder / 'service.db').as_posix()}")
        mp.setenv("VBSP_RISK_STATE_DIR", str(folder / "state"))
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)  # restored after the module
        tracking.configure()
        yield folder
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
