"""``vbsp-risk train`` on a table the project did not make: a data team's single snapshot with
only numeric and categorical columns, no commune and no protected attributes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tests.support.mlflow_store import fresh_mlflow_store
from training.evaluate import CAPACITY_METRICS
from training.scorer import Scorer
from vbsp_risk.cli import app

ROWS = 1000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh MLflow store, service database and (empty) state folder."""
    yield from fresh_mlflow_store(tmp_path_factory, "mlflow-any-table")


def own_table(rows: int = ROWS, seed: int = 3, positives: float | None = None) -> pd.DataFrame:
    """One snapshot of ``rows`` households: two numeric features, one categorical, a label.

    The label follows a logistic model of the features, so a fitted model can find it;
    ``positives`` given: exactly that many positive rows instead (the riskiest ones).
    """
    rng = np.random.default_rng(seed)
    income = rng.lognormal(3.0, 0.6, rows)
    late = rng.poisson(1.0, rows).astype("int64")
    region = pd.Categorical(
        rng.choice(["north", "centre", "south"], rows), categories=["north", "centre", "south"]
    )
    z = -2.2 - 0.04 * income + 0.8 * late + np.where(region == "south", 0.7, 0.0)
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype("int64")
    if positives is not None:
        y = np.zeros(rows, dtype="int64")
        y[np.argsort(-z)[:positives]] = 1
    return pd.DataFrame(
        {
            "household_id": [f"X{i:05d}" for i in range(rows)],
            "as_of": pd.Timestamp("2024-07-01"),
            "income_musd": income,
            "late_payments": late,
            "region": region,
            "trouble_12m": pd.array(y, dtype="Int8"),
        }
    )


@pytest.fixture(scope="module")
def trained(store: Path) -> tuple[Path, object]:
    path = store / "team_repayments.parquet"
    own_table().to_parquet(path, index=False)
    result = CliRunner().invoke(app, ["train", "--features", str(path), "--n-boot", "20"])
    return path, result


def test_trains_to_a_registered_model_named_after_the_file(trained: tuple) -> None:
    path, result = trained
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip().splitlines()[-1]
    client = MlflowClient()
    mv = client.get_model_version("team_repayments", "1")
    assert mv.run_id == run_id
    # not a new version of the district's model
    assert not client.search_model_versions("name = 'overdue-risk-portfolio'")
    run = client.get_run(run_id)
    assert run.data.tags["split.kind"] == "household"
    assert set(run.data.params["model.features"].strip("[]").replace('"', "").split(", ")) == {
        "income_musd",
        "late_payments",
        "region",
    }
    model = mlflow.pyfunc.load_model("models:/team_repayments/1")
    table = pd.read_parquet(path)
    assert isinstance(table["region"].dtype, pd.CategoricalDtype)
    p = np.asarray(model.predict(table), dtype="float64")
    local = mlflow.artifacts.download_artifacts(artifact_uri="models:/team_repayments/1")
    np.testing.assert_array_equal(p, Scorer.load(Path(local) / "artifacts").predict_proba(table))
    assert len(p) == ROWS and np.all((p > 0) & (p < 1))


def test_capacity_is_not_computed_and_fairness_is_skipped_with_a_note(trained: tuple) -> None:
    _, result = trained
    run_id = result.stdout.strip().splitlines()[-1]
    run = MlflowClient().get_run(run_id)
    for key in CAPACITY_METRICS:
        assert not any(k.startswith(f"lightgbm.{key}") for k in run.data.metrics), key
    assert run.data.metrics["lightgbm.roc_auc"] > 0.5
    assert "not computed: the table has no commune_id" in run.data.params["model.capacity_note"]
    assert run.data.tags["fairness.note"].startswith("Fairness report skipped")
    assert "protected_attributes" in run.data.tags["fairness.note"]
    card = mlflow.artifacts.load_text(f"runs:/{run_id}/training/model_card.md")
    assert "Fairness report skipped" in card
    assert "Capture and precision at capacity: not computed" in card
    assert "N/A capture_at_capacity" not in card  # the gate was not asked


def test_too_few_positives_names_the_label_and_the_counts(store: Path) -> None:
    path = store / "rare.parquet"
    own_table(positives=12).to_parquet(path, index=False)
    result = CliRunner().invoke(app, ["train", "--features", str(path), "--n-boot", "0"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "label 'trouble_12m' has fewer than 3 positives (or negatives) in the valid" in text
    assert "train 7 positive(s) of 600 rows, valid 2 positive(s) of 200 rows, test 3" in text
    assert "Traceback" not in result.output
