"""A fresh MLflow store and service database for one training test module.

The environment is set through ``pytest.MonkeyPatch`` (the code under test reads it through
:class:`vbsp_state.settings.StateSettings`) and restored when the module is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

N_BOOT = 30
"""Bootstrap replicates in the training tests (small: the figures are checked, not their noise)."""


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
        try:
            yield folder
        finally:  # also when the caller closes the generator early (``store.close()``)
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)


@contextmanager
def store_at(uri: str) -> Iterator[None]:
    """MLflow's tracking *and* registry URIs at ``uri`` for the block, both unset after.

    Setting the tracking URI alone is not enough: a registry URI left by an earlier test of the
    same worker process (``training.tracking.configure`` sets both) would still resolve
    ``models:/`` URIs in another store.
    """
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def train_small(table: Path, truth: pd.DataFrame, out: Path) -> object:
    """``train_view`` on the small district's portfolio table (trouble_12m, seed 42, with the
    oracle, :data:`N_BOOT` replicates): the run the training tests read, fitted locally or on
    Dask by the caller's context."""
    from training.train import train_view

    return train_view(
        pd.read_parquet(table), "trouble_12m", "portfolio", out, seed=42, truth=truth, n_boot=N_BOOT
    )
