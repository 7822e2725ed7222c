"""Fairness report: group-level figures, reproducible, logged with every training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import fairness
from training.train import TrainResult

N_BOOT = 20


def test_visit_plan_takes_capacity_per_commune_month() -> None:
    frame = pd.DataFrame(
        {
            "household_id": [f"H{i}" for i in range(6)],
            "as_of": pd.to_datetime(["2025-01-01"] * 4 + ["2025-02-01"] * 2),
            "commune_id": ["C1", "C1", "C2", "C2", "C1", "C1"],
            "s": [0.1, 0.9, 0.5, 0.2, 0.3, 0.3],
        }
    )
    assert fairness.visit_plan(frame, "s", 1).tolist() == [False, True, True, False, True, False]


def test_group_arithmetic_by_hand() -> None:
    y = np.array([1, 0, 1, 0], dtype=float)
    p = np.array([0.5, 0.5, 0.2, 0.2])
    sel = np.array([True, True, False, False])
    f = fairness._group_figures(y, p, sel, overall_sel=0.25)
    assert f["selection_rate"] == 0.5 and f["precision"] == 0.5 and f["capture"] == 0.5
    assert f["observed_rate"] == 0.5 and f["mean_predicted"] == pytest.approx(0.35)
    assert f["calibration_ratio"] == pytest.approx(0.7) and f["selection_ratio"] == 2.0


def test_all_groups_at_once_equal_the_group_by_group_arithmetic() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 300)
    codes[codes == 2] = 1  # group 2 absent: every figure NaN, no rows
    y = (rng.random(300) < 0.1).astype(float)
    y[codes == 3] = 0.0  # a group without trouble: capture and calibration ratio NaN
    p, sel = rng.random(300) / 5, rng.random(300) < 0.2
    table = fairness.figures_by_group(codes, 4, y, p, sel, sel.mean())
    assert table["rows"].tolist() == [float((codes == g).sum()) for g in range(4)]
    for g in (0, 1, 3):
        m = codes == g
        expected = fairness._group_figures(y[m], p[m], sel[m], sel.mean())
        for metric in fairness.METRICS:
            np.testing.assert_allclose(table[metric][g], expected[metric], rtol=1e-12)
    assert all(np.isnan(table[m][2]) for m in fairness.METRICS)


@pytest.fixture(scope="module")
def report_inputs(small_result: TrainResult, small_training_data: tuple[Path, Path]):
    table = pd.read_parquet(small_training_data[0])
    minority = fairness.read_minority_status(small_training_data[1].parent)
    return fairness.fairness_frame(small_result.test_frame, table, minority), minority


def test_report_is_group_level_and_reproducible(report_inputs) -> None:
    frame, minority = report_inputs
    assert minority is not None and set(minority.columns) == {"household_id", "is_ethnic_minority"}
    before = frame.copy()
    a = fairness.fairness_report(frame, n_boot=N_BOOT, seed=3)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is left as it was
    b = fairness.fairness_report(frame, n_boot=N_BOOT, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["dimension"]) == set(fairness.DIMENSIONS)
    assert set(a.loc[a["dimension"] == "ethnic_minority", "group"]) <= {
        "ethnic minority",
        "Kinh",
        "unknown",
    }
    # no household-level value and no ethnicity name anywhere in the report
    assert "household_id" not in a.columns
    text = fairness.markdown(a) + a.to_csv()
    assert not any(name in text for name in ("Tà Ôi", "Vân Kiều", "Pa Kô", "Bru"))
    ok = a[np.isfinite(a["value"]) & np.isfinite(a["lo"])]
    assert len(ok) and ((ok["lo"] <= ok["value"] + 1e-12) & (ok["value"] <= ok["hi"] + 1e-12)).all()
    sel = a[(a["metric"] == "selection_rate") & (a["dimension"] == "ethnic_minority")]
    assert sel["value"].between(0, 1).all()


def test_training_logs_the_fairness_report(
    small_training_data: tuple[Path, Path],
    small_result: TrainResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A training run logs the report; its numbers equal an independent training's (same data,
    seed and replicates as the session's ``small_result``)."""
    import mlflow

    from tests.support.mlflow_store import N_BOOT as SESSION_N_BOOT
    from tests.support.mlflow_store import fresh_mlflow_store
    from training.pipeline import run_training

    store = fresh_mlflow_store(tmp_path_factory, "fairness-mlflow")
    next(store)
    try:
        features, truth = small_training_data
        run = run_training(features, n_boot=SESSION_N_BOOT, truth_dir=truth)
        client = mlflow.MlflowClient()
        logged = client.get_run(run.run_id).data.metrics
        logged = {k: v for k, v in logged.items() if k.startswith("fairness.")}
        assert any(k.startswith("fairness.ethnic_minority.") for k in logged)
        table = pd.read_parquet(features)
        frame = fairness.fairness_frame(
            small_result.test_frame, table, fairness.read_minority_status(truth.parent)
        )
        again = fairness.fairness_report(frame, n_boot=SESSION_N_BOOT, seed=42)
        assert logged == pytest.approx(fairness.metric_dict(again), rel=1e-9, abs=1e-12)
        arts = {a.path for a in client.list_artifacts(run.run_id, "training")}
        assert {"training/fairness.csv", "training/fairness.md", "training/model_card.md"} <= arts
        local = mlflow.artifacts.download_artifacts(
            run_id=run.run_id, artifact_path="training/model_card.md"
        )
        card = Path(local).read_text()
        assert "## Fairness" in card and "ethnic_minority" in card and "Not computed" not in card
        assert json.dumps(sorted(logged))  # names are group labels, never a household
    finally:
        next(store, None)
