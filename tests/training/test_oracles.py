"""The two ceilings: the state oracle (truth's ``p_trouble_12m_state`` of the snapshot's month)
next to the clairvoyant one, aligned on household and ``as_of``, and skipped cleanly when the
simulator did not write it."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from tests.support.mlflow_store import N_BOOT
from training.rankings import STATE_COLUMN, STATE_ORACLE_MISSING, state_oracle_proba
from training.report import ranking_rows
from training.train import TrainResult, train_view


def _truth() -> pd.DataFrame:
    """Two households over three months, rows shuffled, each value unique."""
    rows = [
        ("H1", "2024-01-01", 0.11),
        ("H1", "2024-02-01", 0.12),
        ("H1", "2024-03-01", 0.13),
        ("H2", "2024-01-01", 0.21),
        ("H2", "2024-02-01", 0.22),
        ("H2", "2024-03-01", 0.23),
    ]
    t = pd.DataFrame(rows, columns=["household_id", "month", STATE_COLUMN])
    t["month"] = pd.to_datetime(t["month"])
    t["p_trouble"], t["in_trouble"] = 0.01, False
    return t.sample(frac=1.0, random_state=5).reset_index(drop=True)


def test_state_oracle_aligns_on_household_and_as_of() -> None:
    rows = pd.DataFrame(
        {
            "household_id": ["H2", "H1", "H1", "H3", "H2", "H1"],
            "as_of": pd.to_datetime(
                ["2024-02-01", "2024-03-01", "2024-01-01", "2024-01-01", "2024-03-17", "2024-05-01"]
            ),
        }
    )
    got = state_oracle_proba(rows, _truth())
    # H3 has no truth, May has no truth row; a mid-month date takes its month's start state
    np.testing.assert_array_equal(got, [0.22, 0.13, 0.11, np.nan, 0.23, np.nan])


def test_missing_column_degrades_to_none_with_a_note(caplog: pytest.LogCaptureFixture) -> None:
    rows = pd.DataFrame({"household_id": ["H1"], "as_of": pd.to_datetime(["2024-01-01"])})
    with caplog.at_level(logging.INFO, logger="training.rankings"):
        assert state_oracle_proba(rows, _truth().drop(columns=[STATE_COLUMN])) is None
    assert STATE_ORACLE_MISSING in caplog.text


@pytest.fixture(scope="module")
def with_state(small_table: pd.DataFrame, small_truth: pd.DataFrame, tmp_path_factory):
    """``train_view`` with a truth table that has a (made-up, seeded) state oracle column."""
    truth = small_truth.copy()
    truth[STATE_COLUMN] = np.random.default_rng(9).random(len(truth))
    out = tmp_path_factory.mktemp("state-oracle")
    result = train_view(
        small_table, "trouble_12m", "portfolio", out, seed=42, truth=truth, n_boot=N_BOOT
    )
    return result, truth


@pytest.fixture(scope="module")
def small_table(small_training_data) -> pd.DataFrame:
    return pd.read_parquet(small_training_data[0])


def test_reports_show_both_oracles_and_the_gaps(with_state: tuple[TrainResult, pd.DataFrame]):
    result, truth = with_state
    frame = result.test_frame
    expected = frame[["household_id", "as_of"]].merge(
        truth.rename(columns={"month": "as_of"}), on=["household_id", "as_of"], how="left"
    )[STATE_COLUMN]
    got, want = frame["state_oracle"].to_numpy(), expected.to_numpy()
    known = ~np.isnan(want)  # rows without a truth row get one fill value (the mean), noted
    np.testing.assert_array_equal(got[known], want[known])
    assert len(set(got[~known].tolist())) <= 1
    m = result.metrics
    for name in (
        "state_oracle",
        "oracle",
        "gap_lightgbm_vs_state_oracle",
        "gap_lightgbm_vs_oracle",
    ):
        assert m[name]["roc_auc_lo"] <= m[name]["roc_auc"] <= m[name]["roc_auc_hi"], name
    gap = m["gap_lightgbm_vs_state_oracle"]["roc_auc"]
    assert gap == pytest.approx(m["lightgbm"]["roc_auc"] - m["state_oracle"]["roc_auc"])
    assert abs(m["state_oracle"]["roc_auc"] - 0.5) < 0.1  # random values rank like random
    assert set(result.backtest["ranker"]) >= {"state_oracle", "oracle"}
    names = [r[0] for r in ranking_rows(m, lambda v, k: f"{v[k]:.3f}", ["roc_auc"])]
    assert names[-4:] == [
        "state oracle",
        "clairvoyant oracle",
        "gap to state oracle",
        "gap to clairvoyant oracle",
    ]
    card = result.artifacts["model_card.md"].read_text()
    assert "| state oracle |" in card and "| lightgbm − state oracle |" in card
    assert "perfect knowledge of today" in card


def test_the_simulators_state_oracle_reaches_the_report(small_result: TrainResult) -> None:
    """The simulator's own state oracle sits between the model's reach and the clairvoyant one."""
    m = small_result.metrics
    assert STATE_ORACLE_MISSING not in small_result.params["state_oracle_note"]
    assert 0.5 < m["state_oracle"]["roc_auc"] <= m["oracle"]["roc_auc"] + 0.02
    assert "state oracle" in small_result.artifacts["model_card.md"].read_text().lower()
