"""Champion gate: shuffled labels refused, a better model promoted, every decision audited
(MLflow tags and gate runs, ``model_alias_history`` on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy.engine import Engine

from tests.support.db_engines import sqlite_engine
from tests.support.mlflow_store import fresh_mlflow_store
from training import registry
from training.pipeline import run_training

N_BOOT = 20
GATE_BOOT = 200


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh MLflow store and service database for this module."""
    yield from fresh_mlflow_store(tmp_path_factory, "mlflow-registry")


@pytest.fixture(scope="module")
def trained(store: Path, small_training_data: tuple[Path, Path]) -> dict[str, str]:
    """Two registered models of the small district: a good one and one with shuffled labels.

    The good table gets an extra feature carrying part of the label (the contract accepts extra
    numeric features), so the good model is clearly better than chance on 600 households, and
    better than the shuffled one at capacity too (with half the label in the signal, the paired
    capture interval against the shuffled model straddled 0 on this small window: +0.054,
    -0.014..+0.103); the shuffled table permutes the labelled rows' labels.

    Returns:
        ``good`` / ``shuffled`` → logged model URI (``models:/m-...``).
    """
    table = pd.read_parquet(small_training_data[0])
    rng = np.random.default_rng(3)
    y = table["trouble_12m"].astype("float64").fillna(0).to_numpy()
    good = table.assign(officer_signal=1.0 * y + rng.normal(0, 0.5, len(table)))
    shuffled = good.copy()
    lab = shuffled["trouble_12m"].notna()
    shuffled.loc[lab, "trouble_12m"] = rng.permutation(shuffled.loc[lab, "trouble_12m"].to_numpy())
    client = MlflowClient()
    out = {}
    for name, frame in (("good", good), ("shuffled", shuffled)):
        path = store / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        res = run_training(
            path, view="portfolio", model_name="gate-source", n_boot=N_BOOT, monotone="catalog"
        )  # the adaptive search is test_monotone's
        assert res.decision is None and not res.promoted
        out[name] = client.get_model_version("gate-source", res.model_version).source
    return out


def _register(trained: dict[str, str], *kinds: str) -> str:
    name = f"overdue-risk-test-{uuid.uuid4().hex[:8]}"
    for kind in kinds:
        mlflow.register_model(trained[kind], name)
    return name


def test_shuffled_refused_better_promoted_all_audited(
    trained: dict[str, str], engine: Engine
) -> None:
    name = _register(trained, "shuffled", "good")  # v1 shuffled, v2 good
    client = MlflowClient()

    def gate(version: str, **kw: object) -> registry.GateDecision:
        return registry.promote(name, version, engine=engine, n_boot=GATE_BOOT, **kw)  # type: ignore[arg-type]

    first = gate("1", actor="trainer", reason="first try")
    assert first.action == "refused" and first.gate_passed is False
    assert not first.checks["beats_random_roc_auc"]
    assert registry.champion_version(client, name) is None

    second = gate("2", actor="trainer")
    assert second.promoted and second.gate_passed and not second.forced
    assert all(second.checks.values()), second.summary
    assert "vs a random ranking" in second.summary
    assert registry.champion_version(client, name) == "2"

    third = gate("1", actor="trainer")
    assert third.action == "refused" and not third.checks["beats_champion_roc_auc"]
    assert registry.champion_version(client, name) == "2"

    assert gate("2").action == "unchanged"

    forced = gate("1", force=True, reason="data team override", actor="data-team")
    assert forced.promoted and forced.forced and forced.gate_passed is False
    assert registry.champion_version(client, name) == "1"

    back = gate("2", actor="trainer", reason="recover")
    assert back.promoted and not back.forced and back.from_version == "1"
    assert back.figures["diff.roc_auc_lo"] > 0
    assert registry.champion_version(client, name) == "2"

    audit = registry.alias_history_frame(engine, name)
    assert audit["action"].tolist() == [
        "refused",
        "promoted",
        "refused",
        "unchanged",
        "promoted",
        "promoted",
    ]
    assert audit["candidate_version"].tolist() == ["1", "2", "1", "2", "1", "2"]
    assert audit["from_version"].fillna("-").tolist() == ["-", "-", "2", "2", "2", "1"]
    assert audit["to_version"].fillna("-").tolist() == ["-", "2", "2", "2", "1", "2"]
    assert audit["forced"].tolist() == [False, False, False, False, True, False]
    assert audit["actor"].tolist()[4] == "data-team"
    assert audit["reason"].tolist()[4] == "data team override"
    assert audit["decided_at"].notna().all() and audit["gate_run_id"].notna().all()
    assert "lower bound must be > 0" in audit["summary"].iloc[0]

    # MLflow: the latest decision on each version's tags, one gate run per decision
    v1 = client.get_model_version(name, "1").tags
    assert v1["gate.action"] == "promoted" and v1["gate.forced"] == "true"
    assert v1["gate.actor"] == "data-team" and v1["gate.replaced_by"] == "2"
    v2 = client.get_model_version(name, "2")
    assert v2.tags["gate.action"] == "promoted" and v2.tags["gate.from_version"] == "1"
    assert client.get_run(v2.run_id).data.tags["gate.action"] == "promoted"
    gate_runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.kind = 'gate' and tags.model_name = '{name}'",
        order_by=["attributes.start_time ASC"],
    )
    assert gate_runs["tags.gate.action"].tolist() == audit["action"].tolist()
    assert set(gate_runs["run_id"]) == set(audit["gate_run_id"])


def test_candidate_on_an_older_window_is_refused(trained: dict[str, str], tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path)
    name = _register(trained, "good", "good")
    client = MlflowClient()
    assert registry.promote(name, "1", engine=engine, n_boot=GATE_BOOT).promoted
    mlflow.register_model(trained["shuffled"], name)  # v3
    run_id = client.get_model_version(name, "3").run_id
    end = client.get_run(run_id).data.tags["test.as_of_max"]
    # v3's run claims a newer test window (as a model trained next year would), and is forced in
    client.set_tag(run_id, "test.as_of_max", "2099-01-01")
    try:
        registry.promote(name, "3", force=True, reason="setup", engine=engine, n_boot=GATE_BOOT)
        d = registry.promote(name, "2", engine=engine, n_boot=GATE_BOOT)
    finally:
        client.set_tag(run_id, "test.as_of_max", end)
    assert d.action == "refused" and d.gate_passed is None
    assert "not evaluated on the newest data" in d.summary


def test_unknown_model_or_version_is_an_error(trained: dict[str, str], tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path)
    with pytest.raises(ValueError, match="no registered model"):
        registry.promote("no-such-model", engine=engine)
    name = _register(trained, "good")
    with pytest.raises(ValueError, match="no version 7"):
        registry.promote(name, "7", engine=engine)


def test_default_audit_goes_to_the_service_database(trained: dict[str, str], store: Path) -> None:
    from vbsp_state.engine import make_engine

    name = _register(trained, "good")
    d = registry.promote(name, n_boot=GATE_BOOT)  # newest version, default database
    assert d.candidate_version == "1" and d.promoted
    audit = registry.alias_history_frame(make_engine(f"sqlite:///{store / 'service.db'}"), name)
    assert audit["action"].tolist() == ["promoted"]


def test_evaluate_gate_is_the_verdict_promote_acts_on_and_moves_nothing(
    trained: dict[str, str], tmp_path: Path
) -> None:
    engine = sqlite_engine(tmp_path)
    name = _register(trained, "shuffled", "good")  # v1 shuffled, v2 good
    client = MlflowClient()
    dry = registry.evaluate_gate(name, "2", n_boot=GATE_BOOT)
    assert dry.passed is True and dry.champion_version is None and not dry.already_champion
    assert "vs a random ranking" in dry.summary
    assert registry.champion_version(client, name) is None  # nothing moved
    assert registry.alias_history_frame(engine, name).empty  # nothing recorded
    decision = registry.promote(name, "2", engine=engine, n_boot=GATE_BOOT)
    assert decision.promoted and decision.gate_passed is dry.passed
    assert decision.checks == dry.checks and decision.figures == pytest.approx(dry.figures)
    refused = registry.evaluate_gate(name, "1", n_boot=GATE_BOOT)
    assert refused.passed is False and refused.champion_version == "2"
    assert not refused.checks["beats_champion_roc_auc"]
    same = registry.evaluate_gate(name, "2", n_boot=GATE_BOOT)
    assert same.already_champion and same.passed is None
    with pytest.raises(ValueError, match="has no version 9"):
        registry.evaluate_gate(name, "9")
