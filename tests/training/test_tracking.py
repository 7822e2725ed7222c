"""MLflow layer: store location, what a run logs, and the pyfunc scorer (signature, parity)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from training import tracking
from training.pyfunc_model import (
    column_types,
    log_scorer_model,
    schema_types,
    to_model_input,
)
from training.scorer import FILES, Calibrator, Scorer, file_digests

VALID_KEY = re.compile(r"^[A-Za-z0-9_\-. /]+$")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SQLite MLflow store for this module (never the repo's state folder)."""
    folder = tmp_path_factory.mktemp("mlflow-tracking")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)  # restored after the module
        assert tracking.configure() == uri
        yield uri
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = pd.CategoricalDtype(["good", "fair", "poor"])
    df = pd.DataFrame(
        {
            "household_id": [f"H{i:04d}" for i in range(n)],
            "as_of": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 3, n) * 31, "D"),
            "commune_id": rng.choice(["C01", "C02"], n),
            "rating": pd.Series(rng.choice(["good", "fair", "poor", None], n), dtype=cats),
            "arrears_12m": rng.integers(0, 5, n).astype("int64"),
            "ontime_share": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            "difficult": rng.random(n) < 0.3,
        }
    )
    logit = -3 + 0.6 * df["arrears_12m"] + 1.0 * df["difficult"] + (df["rating"] == "poor") * 1.0
    df["trouble_12m"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return df


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    df = _frame()
    names = ["rating", "arrears_12m", "ontime_share", "difficult"]
    sc = Scorer(
        None,
        Calibrator("platt", {"a": 0.9, "b": 0.1}),
        names,  # type: ignore[arg-type]
        {"rating": ["good", "fair", "poor"]},
        {"view": "application"},
    )
    params = {"objective": "binary", "verbose": -1, "seed": 1, "num_leaves": 4}
    sc.booster = lgb.train(params, lgb.Dataset(sc.frame(df), df["trouble_12m"]), 20)
    return sc


def test_default_store_is_sqlite_under_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.tracking_uri(tmp_path)
    assert uri == f"sqlite:///{(tmp_path.resolve() / 'mlflow' / 'mlflow.db').as_posix()}"
    assert tracking.artifact_root(uri) == (tmp_path.resolve() / "mlflow" / "artifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri(tmp_path) == "http://mlflow.example:5000"
    assert tracking.artifact_root("http://mlflow.example:5000") is None


def test_flattened_metric_keys_are_valid() -> None:
    flat = tracking.flatten_metrics(
        {
            "lightgbm": {"roc_auc": 0.8, "roc_auc_lo": 0.7, "note": "x", "flag": True},
            "random": {"roc_auc": 0.5, "calibration_slope": float("nan")},
            "gap_lightgbm_vs_practice(arrears)": {"roc_auc": 0.1},
        }
    )
    assert flat["lightgbm.roc_auc_lo"] == 0.7
    assert "lightgbm.note" not in flat and "lightgbm.flag" not in flat
    assert "random.calibration_slope" not in flat and flat["random.roc_auc"] == 0.5
    assert all(VALID_KEY.match(k) for k in flat)


def test_params_are_flat_strings_within_limits() -> None:
    out = tracking.flatten_params(
        {
            "lgb": {"num_leaves": 15, "deep": {"a": 1}},
            "features": ["a", "b"],
            "long": "x" * 10_000,
        }
    )
    assert out["lgb.num_leaves"] == "15"
    assert out["lgb.deep"] == '{"a": 1}'
    assert out["features"] == '["a", "b"]'
    assert len(out["long"]) == tracking.PARAM_MAX


def test_fingerprint_counts_and_hashes(tmp_path: Path) -> None:
    df = _frame()
    df.loc[:9, "trouble_12m"] = pd.NA
    df["trouble_12m"] = df["trouble_12m"].astype("Int8")
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    fp = tracking.data_fingerprint(df, "trouble_12m", path)
    assert fp["rows"] == 400 and fp["labelled_rows"] == 390
    assert fp["sha256"] == tracking.file_sha256(path) != fp["frame_sha256"]
    assert fp["as_of_min"] <= fp["as_of_max"]
    assert 0 < fp["label_rate"] < 1
    assert tracking.frame_sha256(df) == tracking.frame_sha256(df.copy())
    assert tracking.frame_sha256(df) != tracking.frame_sha256(df.assign(arrears_12m=0))


def test_backtest_long_table_becomes_stepped_metrics() -> None:
    bt = pd.DataFrame(
        {
            "window": [0, 0, 1],
            "test_start": ["2024-02-01", "2024-02-01", "2023-08-01"],
            "ranker": ["lightgbm", "random", "lightgbm"],
            "roc_auc": [0.8, 0.5, np.nan],
        }
    )
    out = tracking.backtest_metrics(bt)
    assert ("backtest.lightgbm.roc_auc", 0.8, 0) in out
    assert ("backtest.random.roc_auc", 0.5, 0) in out
    assert len(out) == 2  # NaN dropped


def test_signature_uses_serving_types(scorer: Scorer) -> None:
    types = column_types(_frame(), scorer)
    assert types == {
        "rating": "string",
        "arrears_12m": "long",
        "ontime_share": "double",
        "difficult": "boolean",
    }
    x = to_model_input(_frame(), types)
    assert list(x.columns) == scorer.names
    assert pd.api.types.is_string_dtype(x["rating"]) and x["rating"].isna().any()
    assert x["rating"].dropna().map(type).eq(str).all()


def test_pyfunc_predictions_equal_the_scorer(store: str, scorer: Scorer, tmp_path: Path) -> None:
    df = _frame(seed=1)
    exp = tracking.ensure_experiment("unit-pyfunc")
    assert exp == tracking.ensure_experiment("unit-pyfunc")
    with mlflow.start_run(experiment_id=exp):
        info = log_scorer_model(scorer, df, registered_model_name="unit-scorer")
    assert info.registered_model_version is not None
    client = MlflowClient()
    artifact_uri = client.get_experiment(exp).artifact_location
    assert artifact_uri.startswith("file://") and artifact_uri.endswith("/artifacts")
    model = mlflow.pyfunc.load_model(f"models:/unit-scorer/{info.registered_model_version}")
    types = schema_types(model)
    assert types["rating"] == "string" and types["difficult"] == "boolean"
    got = model.predict(to_model_input(df, types))
    np.testing.assert_array_equal(np.asarray(got), scorer.predict_proba(df))
    example = model.metadata.load_input_example(model.metadata.get_model_info().model_uri)
    assert example is not None and len(example) == 5
    # the registered version names the SHA-256 of each file it was registered with
    tags = client.get_model_version("unit-scorer", info.registered_model_version).tags
    saved = file_digests(scorer.save(tmp_path / "saved"))
    assert set(saved) == set(FILES)
    assert {k: v for k, v in tags.items() if k.startswith("sha256.")} == {
        f"sha256.{file}": digest for file, digest in saved.items()
    }
