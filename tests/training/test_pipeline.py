"""``run_training`` / ``vbsp-risk train``: what a run logs, reproducibility, the champion loaded
from a plain Python session, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from features.build import write_feature_table
from tests.support.mlflow_store import fresh_mlflow_store
from training import registry, tracking
from training.hazard_level import EXPOSURE_COLUMN
from training.pipeline import TrainingRun, run_training
from training.pyfunc_model import schema_types, to_model_input
from training.rankings import STATE_COLUMN
from training.scorer import Scorer
from vbsp_risk.cli import app

N_BOOT = 20
MODEL = "overdue-risk-application"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh MLflow store and service database for this module."""
    yield from fresh_mlflow_store(tmp_path_factory, "mlflow-pipeline")


@pytest.fixture(scope="module")
def application(
    store: Path, small_features: dict[str, Path], small_training_data: tuple[Path, Path]
) -> tuple[Path, Path]:
    """The small district's application feature table (Parquet) and its truth folder.

    The table is the session's (built once per run by ``tests/conftest.py``), written again here
    with the project's own writer, whose file the run fingerprints.
    """
    table = pd.read_parquet(small_features["application"])
    path = store / "application.parquet"
    write_feature_table(iter([("all", table)]), path)  # the project's own writer
    truth = pd.read_parquet(small_training_data[1])
    truth[STATE_COLUMN] = np.random.default_rng(3).random(len(truth))  # a state oracle column
    (store / "truth").mkdir()
    truth.to_parquet(store / "truth" / "part-all.parquet", index=False)
    return path, store / "truth"


@pytest.fixture(scope="module")
def first(application: tuple[Path, Path]) -> TrainingRun:
    path, truth = application
    return run_training(path, view="application", truth_dir=truth, n_boot=N_BOOT)


def test_run_logs_parameters_fingerprint_metrics_and_artifacts(
    first: TrainingRun, application: tuple[Path, Path]
) -> None:
    client = MlflowClient()
    run = client.get_run(first.run_id)
    assert first.model_name == MODEL and first.model_version == "1"
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "overdue-risk-application"
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    assert params["label"] == "trouble_12m" and params["seed"] == "42"
    assert params["data.sha256"] == tracking.file_sha256(application[0])
    assert int(params["data.rows"]) == len(pd.read_parquet(application[0]))
    assert params["catalog_version"] == tags["catalog_version"]
    assert tags["split.kind"] in ("time", "household") and tags["split.reason"]
    assert params["model.monotone.mode"] == "auto"
    # no data folder beside this truth/: the level is the validation rate, and the run says why
    assert params["model.hazard_level_note"].endswith("no hazard table (hazard_events) was given")
    for key in (
        "lightgbm.roc_auc",
        "lightgbm.roc_auc_lo",
        "lightgbm.roc_auc_hi",
        "lightgbm.capture_at_capacity",
        "logistic.roc_auc",
        "random.roc_auc",
        "oracle.roc_auc",
        "lightgbm.calibration_slope",
        "state_oracle.roc_auc",
        "gap_lightgbm_vs_state_oracle.roc_auc_lo",
        "gap_lightgbm_vs_oracle.roc_auc_hi",
        "monotone.interest_ontime_share.auc_cost",
        "monotone.extensions.kept",
    ):
        assert key in metrics, key
    assert metrics["lightgbm.roc_auc_lo"] <= metrics["lightgbm.roc_auc"]
    assert client.get_metric_history(first.run_id, "backtest.lightgbm.roc_auc")
    files = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"features.json", "data_fingerprint.json", "split.json", "training", "gate"} <= files
    trained = {Path(a.path).name for a in client.list_artifacts(first.run_id, "training")}
    assert {"model_card.md", "metrics.json", "backtest.csv", "reliability.png"} <= trained
    card = mlflow.artifacts.load_text(f"runs:/{first.run_id}/training/model_card.md")
    assert "## Champion gate" in card
    window = tracking.load_test_window(first.run_id)
    feats = json.loads(mlflow.artifacts.load_text(f"runs:/{first.run_id}/features.json"))
    assert set(feats["names"]) <= set(window.columns)
    assert {"household_id", "as_of", "trouble_12m"} <= set(window.columns)
    assert tags["test.as_of_max"] == str(window["as_of"].max().date())
    mv = client.get_model_version(MODEL, "1")
    assert mv.run_id == first.run_id and mv.tags["view"] == "application"


def test_retraining_with_same_seed_and_data_reproduces_metrics(
    first: TrainingRun, application: tuple[Path, Path]
) -> None:
    path, truth = application
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--features",
            str(path),
            "--view",
            "application",
            "--seed",
            "42",
            "--truth",
            str(truth),
            "--n-boot",
            str(N_BOOT),
        ],
    )
    assert result.exit_code == 0, result.output
    second_run = result.stdout.strip().splitlines()[-1]
    assert "ROC AUC" in result.output and "clairvoyant oracle" in result.output
    assert "gap to state oracle" in result.output
    client = MlflowClient()
    a, b = client.get_run(first.run_id).data, client.get_run(second_run).data
    assert second_run != first.run_id and a.metrics == b.metrics
    assert a.params["data.sha256"] == b.params["data.sha256"]
    assert client.get_model_version(MODEL, "2").run_id == second_run


def test_champion_loads_in_a_plain_session_and_equals_the_scorer(
    first: TrainingRun, application: tuple[Path, Path], store: Path
) -> None:
    decision = registry.promote(
        MODEL, first.model_version, force=True, reason="pyfunc parity test", n_boot=50
    )
    assert decision.promoted
    table = pd.read_parquet(application[0])
    window = tracking.load_test_window(first.run_id)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    x = to_model_input(table, schema_types(model))
    x.to_parquet(store / "serving_input.parquet", index=False)
    code = (
        "import sys, numpy as np, pandas as pd, mlflow\n"
        f"m = mlflow.pyfunc.load_model('models:/{MODEL}@champion')\n"
        "p = m.predict(pd.read_parquet(sys.argv[1]))\n"
        "np.save(sys.argv[2], np.asarray(p, dtype='float64'))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
    out = store / "plain_session.npy"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(store / "serving_input.parquet"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=store,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}/{first.model_version}", dst_path=str(store / "m")
    )
    service = Scorer.load(Path(local) / "artifacts")
    np.testing.assert_array_equal(np.load(out), service.predict_proba(table))
    np.testing.assert_array_equal(
        model.predict(to_model_input(window, schema_types(model))), service.predict_proba(window)
    )
    # the gate's second score: at the window's realised hazards, from the registered files
    struck = window.assign(**{EXPOSURE_COLUMN: np.linspace(0, 2, len(window))})
    served, at = registry._score_both(MODEL, first.model_version, struck)
    np.testing.assert_array_equal(served, service.predict_proba(window))
    expected = service.predict_proba_at(struck, struck[EXPOSURE_COLUMN].to_numpy())
    assert (at is None) == (expected is None)
    if expected is not None:
        np.testing.assert_allclose(at, expected, rtol=1e-12)
    assert registry._score_both(MODEL, first.model_version, window)[1] is None


def test_registered_model_scores_the_feature_table_as_written(
    first: TrainingRun, application: tuple[Path, Path]
) -> None:
    """The pyfunc takes the table exactly as ``vbsp-risk features`` writes it (pandas
    ``category`` columns included), as a data scientist would read it."""
    table = pd.read_parquet(application[0])
    assert any(isinstance(t, pd.CategoricalDtype) for t in table.dtypes)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{first.model_version}")
    np.testing.assert_array_equal(
        np.asarray(model.predict(table), dtype="float64"), first.scorer.predict_proba(table)
    )


def _text(result: Result) -> str:
    return " ".join(result.output.split())


def test_bad_input_gives_a_clear_message(tmp_path: Path, application: tuple[Path, Path]) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["train", "--features", str(tmp_path / "nope.parquet")])
    assert missing.exit_code == 1 and "does not exist" in _text(missing)
    broken = pd.read_parquet(application[0]).drop(columns=["as_of"])
    broken.to_parquet(tmp_path / "broken.parquet")
    res = runner.invoke(app, ["train", "--features", str(tmp_path / "broken.parquet")])
    assert res.exit_code == 1 and "'as_of' is missing" in _text(res)
    (tmp_path / "junk.parquet").write_text("not parquet")
    res = runner.invoke(app, ["train", "--features", str(tmp_path / "junk.parquet")])
    assert res.exit_code == 1 and "not a readable Parquet" in _text(res)
    res = runner.invoke(app, ["train", "--features", str(application[0]), "--label", "nope"])
    assert res.exit_code == 1 and "label 'nope' is missing" in _text(res)
    res = runner.invoke(app, ["promote", "--model-name", "no-such-model"])
    assert res.exit_code == 1 and "no registered model" in _text(res)
    res = runner.invoke(app, ["promote", "--model-name", MODEL, "--force"])
    assert res.exit_code == 2 and "--reason" in _text(res)
    for r in (missing, res):
        assert "Traceback" not in r.output and not isinstance(r.exception, ValueError)


def test_data_dir_beside_truth_needs_no_valid_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark given ``--truth`` finds the bank's tables beside it even where the state's
    settings would not validate (here a PII key too short)."""
    from training.pipeline import data_dir_of

    (tmp_path / "loans").mkdir()
    (tmp_path / "truth").mkdir()
    monkeypatch.setenv("VBSP_RISK_PII_KEY", "ab")
    assert data_dir_of(None, tmp_path / "truth") == tmp_path
    with pytest.raises(ValueError, match="VBSP_RISK_PII_KEY"):  # the state is read only last
        data_dir_of(None, None)
