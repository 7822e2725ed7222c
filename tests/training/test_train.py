"""train_view on the small district: metrics, artifacts, determinism, household fallback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.support.mlflow_store import N_BOOT
from training.train import TrainResult, train_view

RANKERS = (
    "lightgbm",
    "logistic",
    "practice_arrears",
    "practice_group_arrears",
    "practice_last_year",
    "random",
    "oracle",
)


def test_result_shape(small_result: TrainResult) -> None:
    r = small_result
    assert set(RANKERS) <= set(r.metrics)
    lg = r.metrics["lightgbm"]
    for key in ("roc_auc", "pr_auc", "capture_top10", "capture_at_capacity", "brier"):
        assert lg[f"{key}_lo"] <= lg[key] <= lg[f"{key}_hi"], key
    for k in (1, 2, 5, 10):
        assert f"precision_top{k}" in lg and f"capture_top{k}" in lg
    assert "gap_lightgbm_vs_oracle" in r.metrics
    assert r.split.kind == "time" and len(r.split.cutoffs) >= 2
    rankers = set(r.backtest["ranker"])  # and the state oracle where truth/ carries it
    assert set(RANKERS) <= rankers <= set(RANKERS) | {"state_oracle"}
    assert len(r.backtest) == len(rankers) * len(r.split.cutoffs)
    assert {"household_id", "as_of", "commune_id", "label", *RANKERS} <= set(r.test_frame.columns)
    assert len(r.test_frame) == r.split.windows["test"]["rows"]
    for name in (
        "reliability.png",
        "capture.png",
        "importance.png",
        "shap_summary.png",
        "backtest.csv",
        "reliability.csv",
        "model_card.md",
        "metrics.json",
    ):
        assert r.artifacts[name].is_file(), name
    doc = json.loads(r.artifacts["metrics.json"].read_text())
    assert doc["split"]["kind"] == "time"
    assert doc["params"]["num_boost_round"] == r.params["num_boost_round"]
    assert r.params["calibration_method"] in ("platt", "isotonic", "none")
    assert "Fairness" in r.artifacts["model_card.md"].read_text()


def test_model_beats_random_and_oracle_bounds_it(small_result: TrainResult) -> None:
    m = small_result.metrics
    assert m["lightgbm"]["roc_auc"] > m["random"]["roc_auc"]
    assert m["oracle"]["roc_auc"] >= m["lightgbm"]["roc_auc"] - 0.02
    assert m["lightgbm"]["predicted_rate"] > 0


def test_same_seed_reproduces_metrics(
    small_result: TrainResult, small_table: pd.DataFrame, small_truth: pd.DataFrame, tmp_path
) -> None:
    again = train_view(
        small_table, "trouble_12m", "portfolio", tmp_path, seed=42, truth=small_truth, n_boot=N_BOOT
    )
    assert pd.DataFrame(again.metrics).equals(pd.DataFrame(small_result.metrics))
    assert np.array_equal(again.test_frame["lightgbm"], small_result.test_frame["lightgbm"])
    assert again.backtest.equals(small_result.backtest)


def test_short_table_falls_back_to_household_split(small_table: pd.DataFrame, tmp_path) -> None:
    short = small_table[small_table["as_of"].between("2023-01-01", "2023-06-01")]
    short = short.assign(trouble_12m=short["trouble_12m"].astype("Int8"))
    r = train_view(short, "trouble_12m", "portfolio", tmp_path, n_boot=10)
    assert r.split.kind == "household"
    assert "split instead" in r.split.reason
    hh = r.test_frame["household_id"]
    assert r.split.windows["test"]["households"] == hh.nunique()
    assert r.backtest["window"].nunique() == 1
    assert "oracle" not in r.metrics


def test_stage_timings_and_backtest_rounds(small_result: TrainResult) -> None:
    from training.train import STAGES

    stages = small_result.params["stage_seconds"]
    assert set(stages) == set(STAGES)
    assert all(v >= 0 for v in stages.values())
    assert sum(stages.values()) <= small_result.params["train_seconds"] + 1.0
    cpu = small_result.params["stage_cpu_seconds"]
    assert set(cpu) == set(STAGES) and all(v >= 0 for v in cpu.values())
    assert cpu["evaluate"] > 0 and cpu["fit_lightgbm"] > 0
    # backtest windows refit with the main model's rounds (no new early-stopping search)
    assert small_result.backtest["num_boost_round"].nunique() == 1


def test_pooled_training_rows_respect_the_validation_gap(
    small_table: pd.DataFrame, tmp_path
) -> None:
    """An application-like table (rows dated inside the month) pooled with the portfolio view."""
    from training.split import labelled, make_split
    from training.train import make_pool, pool_rows

    app = small_table.sample(frac=0.15, random_state=1).copy()
    app["as_of"] = app["as_of"] + pd.Timedelta(days=14)
    r = train_view(app, "trouble_12m", "application", tmp_path, seed=42, n_boot=0, pool=small_table)
    pool = r.params["pool"]
    assert pool["rows"] > pool["own_rows"] > 0 and pool["positives"] > 0
    assert "Pooled training rows" in r.artifacts["model_card.md"].read_text()
    data, _ = labelled(app, "trouble_12m")
    split, _ = make_split(
        data,
        "trouble_12m",
        **{k: r.split.params[k] for k in ("valid_months", "test_months", "step_months")},
    )
    pooled = make_pool(small_table, "trouble_12m", r.scorer.names, 12, "portfolio")
    pos = pool_rows(data, split, pooled)
    assert len(pos) == pool["rows"]
    label_end = pooled.rows["as_of"].iloc[pos] + pd.DateOffset(months=12)
    assert label_end.max() <= data["as_of"].iloc[split.valid].min()
