"""Distributed training (``lightgbm.dask`` on a 2-worker LocalCluster) against the local engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.support.mlflow_store import fresh_mlflow_store, train_small
from training.dask_train import ValidationStopping, booster_matrix, dask_fitting, logloss
from training.fit import feature_spec, model_frame
from training.scorer import Scorer
from training.train import TrainResult
from vbsp_risk.cli import app

pytest.importorskip("distributed")

TOLERANCE = {
    "roc_auc": 0.08,
    "pr_auc": 0.05,
    "capture_top10": 0.08,
    "brier": 0.004,
    "log_loss": 0.015,
}
"""Largest |dask - local| accepted on the small district's test window (600 households: the
95 % bootstrap interval of each engine's ROC AUC alone is about ±0.04, so two fits that bin and
bag differently may differ by about √2 × that; a broken engine would sit near 0.5, far outside)."""


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    from features.engine import DaskEngine

    engine = DaskEngine("local", n_workers=2)
    yield engine.client
    engine.close()


@pytest.fixture(scope="module")
def dask_result(
    dask_client: object,
    small_training_data: tuple[Path, Path],
    small_truth: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainResult:
    with dask_fitting(dask_client):
        return train_small(
            small_training_data[0], small_truth, tmp_path_factory.mktemp("dask-train-run")
        )


def test_metrics_are_within_tolerance_of_the_local_engine(
    dask_result: TrainResult, small_result: TrainResult
) -> None:
    assert dask_result.params["engine"] == "dask"
    assert dask_result.params["dask_workers"] == 2
    for key, tol in TOLERANCE.items():
        got, ref = dask_result.metrics["lightgbm"][key], small_result.metrics["lightgbm"][key]
        assert abs(got - ref) <= tol, (key, got, ref)
    assert dask_result.split.to_dict() == small_result.split.to_dict()


def test_the_booster_is_ordinary_with_the_same_constraints_and_categories(
    dask_result: TrainResult, small_result: TrainResult, small_table: pd.DataFrame, tmp_path: Path
) -> None:
    from serving.model_store import from_scorer

    scorer = dask_result.scorer
    assert isinstance(scorer.booster, lgb.Booster)
    assert scorer.names == small_result.scorer.names
    assert scorer.categorical == small_result.scorer.categorical
    assert dask_result.params["monotone_constraints"] == small_result.params["monotone_constraints"]
    text = scorer.booster.model_to_string()
    constraints = [int(v) for v in dask_result.params["monotone_constraints"].values()]
    assert f"[monotone_constraints: {','.join(map(str, constraints))}]" in text
    assert scorer.booster.pandas_categorical == list(scorer.categorical.values())
    loaded = Scorer.load(scorer.save(tmp_path / "scorer"))
    model = from_scorer(loaded, "dask", "1")  # the service's numpy path
    rows = small_table.tail(2000)
    np.testing.assert_allclose(
        model.predict(model.matrix_from_frame(rows)), scorer.predict_proba(rows), atol=1e-12
    )


def test_validation_stopping_matches_lightgbm_early_stopping(
    small_training_data: tuple[Path, Path],
) -> None:
    table = pd.read_parquet(small_training_data[0])
    data = table[table["trouble_12m"].notna()]
    names, categorical = feature_spec(data)
    months = pd.to_datetime(data["as_of"]).dt.to_period("M")
    train, valid = data[months < "2022-06"], data[months >= "2023-01"]
    x_train, x_valid = (
        model_frame(train, names, categorical),
        model_frame(valid, names, categorical),
    )
    y_train, y_valid = train["trouble_12m"].astype(int), valid["trouble_12m"].astype(int)
    params = {
        "objective": "binary",
        "learning_rate": 0.3,
        "num_leaves": 7,
        "seed": 1,
        "deterministic": True,
        "num_threads": 1,
        "force_col_wise": True,
        "verbose": -1,
        "metric": "binary_logloss",
    }
    ref = lgb.train(
        params,
        lgb.Dataset(x_train, y_train),
        300,
        valid_sets=[lgb.Dataset(x_valid, y_valid)],
        callbacks=[lgb.early_stopping(10, verbose=False)],
    )
    ours = ValidationStopping(booster_matrix(x_valid), y_valid.to_numpy(), 10)
    got = lgb.train(params, lgb.Dataset(x_train, y_train), 300, callbacks=[ours])
    assert got.best_iteration == ref.best_iteration
    raw = got.predict(booster_matrix(x_valid), num_iteration=got.best_iteration)
    assert logloss(y_valid.to_numpy(), raw) == pytest.approx(ours.losses[got.best_iteration - 1])
    assert np.isclose(
        ours.losses[got.best_iteration - 1], ref.best_score["valid_0"]["binary_logloss"], rtol=1e-6
    )


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from fresh_mlflow_store(tmp_path_factory, "mlflow-dask")


def test_train_cli_on_dask_registers_a_model_the_service_loads(
    dask_client: object, mlflow_store: Path, small_training_data: tuple[Path, Path]
) -> None:
    import mlflow

    from serving.model_store import load_registered
    from training import tracking

    address = dask_client.scheduler.address  # type: ignore[attr-defined]
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--features",
            str(small_training_data[0]),
            "--n-boot",
            "0",
            "--model-name",
            "dask-portfolio",
            "--engine",
            "dask",
            "--scheduler",
            address,
        ],
    )
    assert result.exit_code == 0, result.output
    run_id = re.findall(r"^[0-9a-f]{32}$", result.output, re.MULTILINE)[-1]
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).data.tags["engine"] == "dask"
    version = client.search_model_versions("name='dask-portfolio'")[0].version
    client.set_registered_model_alias("dask-portfolio", "test", version)
    model = load_registered(tracking.configure(), "dask-portfolio", "test")  # smoke-checked
    assert isinstance(model.scorer.booster, lgb.Booster)
