"""``--monotone {catalog,auto,off}``: constraints checked on the validation window.

A hand-made table whose truth contradicts the catalog for one feature: more debt extensions
mean *less* risk here (the catalog says more), while the on-time share behaves as declared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.fit import feature_spec, lightgbm_params, model_frame, monotone_constraints
from training.monotone import TOLERANCE, choose_constraints, constraint_groups
from training.train import TrainResult, train_view

ROWS = 20_000


def contrary_table(rows: int = ROWS, seed: int = 1, effect: float = -0.9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    extensions = rng.poisson(1.5, rows).astype("int64")
    ontime = rng.beta(5, 1, rows)
    noise = rng.normal(size=rows)
    z = -1.0 + effect * extensions - 2.0 * (ontime - 0.8) + 0.3 * noise
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype("int64")
    return pd.DataFrame(
        {
            "household_id": [f"Q{i:06d}" for i in range(rows)],
            "as_of": pd.Timestamp("2024-01-01"),
            "extensions_12m": extensions,  # catalog: +1 (riskier); here: safer
            "interest_ontime_share_12m": ontime,  # catalog: -1 (safer); here too
            "team_score": noise,  # not in the catalog: never constrained
            "trouble_12m": pd.array(y, dtype="Int8"),
        }
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainResult]:
    table = contrary_table()
    return {
        mode: train_view(
            table,
            "trouble_12m",
            "portfolio",
            tmp_path_factory.mktemp(mode),
            seed=42,
            n_boot=0,
            monotone=mode,
        )
        for mode in ("catalog", "auto", "off")
    }


def test_off_has_no_constraints(runs: dict[str, TrainResult]) -> None:
    r = runs["off"]
    assert set(r.params["monotone_constraints"].values()) == {0}
    assert "monotone_constraints" not in r.scorer.booster.params or not any(
        r.scorer.booster.params["monotone_constraints"]
    )
    assert not any(g["kept"] for g in r.monotone.groups.values())


def test_catalog_keeps_all(runs: dict[str, TrainResult]) -> None:
    r = runs["catalog"]
    assert r.params["monotone_constraints"] == {
        "extensions_12m": 1,
        "interest_ontime_share_12m": -1,
        "team_score": 0,
    }
    assert all(g["kept"] and g["auc_cost"] is None for g in r.monotone.groups.values())


def test_auto_drops_the_wrong_constraint_only(runs: dict[str, TrainResult]) -> None:
    r = runs["auto"]
    groups = r.monotone.groups
    assert set(groups) == {"extensions", "interest_ontime_share"}
    assert groups["extensions"]["auc_cost"] >= TOLERANCE and not groups["extensions"]["kept"]
    assert groups["interest_ontime_share"]["auc_cost"] < TOLERANCE
    assert groups["interest_ontime_share"]["kept"]
    assert r.params["monotone_constraints"] == {
        "extensions_12m": 0,
        "interest_ontime_share_12m": -1,
        "team_score": 0,
    }
    assert r.params["monotone"]["dropped"] == ["extensions"]
    metrics = r.monotone.metrics()
    assert metrics["monotone.extensions.kept"] == 0.0
    assert metrics["monotone.extensions.auc_cost"] == groups["extensions"]["auc_cost"]
    card = r.artifacts["model_card.md"].read_text()
    assert "## Monotone constraints" in card and "| extensions | extensions_12m | +1 |" in card
    # dropping the wrong constraint is what lets the model beat the catalog-constrained one
    assert r.metrics["lightgbm"]["roc_auc"] > runs["catalog"].metrics["lightgbm"]["roc_auc"]


def test_groups_are_a_quantity_over_its_windows() -> None:
    names = ["interest_ontime_share_3m", "interest_ontime_share_12m", "extensions_12m", "x"]
    assert constraint_groups(names, [-1, -1, 1, 0]) == {
        "interest_ontime_share": [0, 1],
        "extensions": [2],
    }


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="monotone mode must be one of"):
        train_view(
            contrary_table(2000),
            "trouble_12m",
            "portfolio",
            tmp_path,
            n_boot=0,
            monotone="sometimes",
        )


def test_right_constraints_are_kept_together_after_two_fits() -> None:
    """When dropping every constraint gains nothing, no group is tested alone."""
    table = contrary_table(effect=0.9)  # extensions riskier, as the catalog says
    names, cats = feature_spec(table)
    x, y = model_frame(table, names, cats), table["trouble_12m"].astype("int64").to_numpy()
    half = len(table) // 2
    choice = choose_constraints(
        "auto",
        names,
        monotone_constraints(names, cats),
        x.iloc[:half],
        y[:half],
        x.iloc[half:],
        y[half:],
        lightgbm_params(42, int(y[:half].sum()), half),
    )
    assert choice.constraints == [1, -1, 0]
    for g in choice.groups.values():
        assert g["kept"] and g["tested_with"] == 2 and g["auc_cost"] < TOLERANCE
    assert "(with 2 groups)" in choice.markdown()
