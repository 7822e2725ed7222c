"""``vbsp-risk retrain``: last month's export makes the first champion, this month's export is
gated against it with a recorded reason, and the running service picks the champion up without
a restart. Re-running is idempotent; a half-done run resumes; bad exports fail clearly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from features import storage
from features.simulator import SimConfig, simulate
from training import tracking
from training.retrain import RetrainError, missing_months, retrain

PREVIOUS_MONTH = SimConfig(households=600, seed=7, start="2019-01", end="2025-11")
N_BOOT = 20
NAME = "overdue-risk-portfolio"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh state folder, MLflow store and service database for this module."""
    import mlflow

    folder = tmp_path_factory.mktemp("retrain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{(folder / 'mlflow.db').as_posix()}")
        mp.setenv("VBSP_RISK_DATABASE_URL", f"sqlite:///{(folder / 'service.db').as_posix()}")
        mp.setenv("VBSP_RISK_STATE_DIR", str(folder / "state"))
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        tracking.configure()
        yield folder
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("truth"))
    return dst


def test_monthly_retrain_and_service_pickup(store: Path, small_district: Path) -> None:
    from serving.app import create_app
    from serving.auth import add_client
    from serving.settings import ServiceSettings
    from vbsp_risk.cli import app as cli

    previous = store / "export-2025-11"
    simulate(previous, PREVIOUS_MONTH)
    first = retrain(previous, promote=True, views=["portfolio"], n_boot=N_BOOT)
    assert first.ran == ["validate", "features", "train", "gate", "materialize"]
    v1 = first.steps["gate"]["decisions"]["portfolio"]
    assert v1["action"] in {"promoted", "refused"} and v1["summary"]
    if v1["action"] == "refused":  # a 600-household district is small: the team may force it
        from training.registry import promote

        promote(NAME, v1["candidate"], force=True, reason="first champion of the test district")
        v1["champion"] = v1["candidate"]

    keys = store / "api_keys.json"
    key = add_client(keys, "test-data", "data", None)
    settings = ServiceSettings(
        state_dir=store / "state",
        database_url=f"sqlite:///{(store / 'service.db').as_posix()}",
        tracking_uri=f"sqlite:///{(store / 'mlflow.db').as_posix()}",
        api_keys_file=keys,
        reload_interval_seconds=0,
    )
    with TestClient(create_app(settings)) as api:
        head = {"X-API-Key": key}

        def served() -> str:
            body = api.get("/v1/models", headers=head).json()
            text = json.dumps(body)
            assert "ethnic" not in text.lower()
            models = body if isinstance(body, list) else body.get("models", body)
            found = [
                m
                for m in (models if isinstance(models, list) else models.values())
                if isinstance(m, dict) and m.get("name", m.get("model_name")) == NAME
            ]
            return str(found[0].get("version", found[0].get("model_version")))

        assert served() == v1["champion"]
        # next month's export, through the command line
        run = CliRunner().invoke(
            cli,
            [
                "retrain",
                "--data",
                str(small_district),
                "--promote",
                "--view",
                "portfolio",
                "--n-boot",
                str(N_BOOT),
            ],
        )
        assert run.exit_code == 0, run.output
        last = json.loads((store / "state" / "retrain" / "last.json").read_text())
        state = json.loads(Path(last["state_file"]).read_text())
        decision = state["steps"]["gate"]["decisions"]["portfolio"]
        assert decision["action"] in {"promoted", "refused"} and decision["summary"]
        print(f"gate on the next month: {decision['action']}\n{decision['summary']}")
        client = MlflowClient()
        champion = client.get_model_version_by_alias(NAME, "champion").version
        assert str(champion) == str(decision["champion"])
        # the gate's decision and reason are in the audit table the service shares
        from training.registry import alias_history_frame
        from vbsp_state.engine import make_engine

        engine = make_engine(settings.db_url)
        history = alias_history_frame(engine, NAME)
        engine.dispose()
        assert history["reason"].str.contains("retrain").sum() == 2
        if decision["action"] == "refused":  # kept, with the gate's reason; move it by hand
            from training.registry import promote

            promote(NAME, decision["candidate"], force=True, reason="test: show the pick-up")
            champion = decision["candidate"]
        assert str(champion) != str(v1["champion"])
        # the running service picks the champion up without a restart
        reload = api.post("/v1/admin/reload", headers=head)
        assert reload.status_code == 200, reload.text
        assert served() == str(champion)

    # same export again: nothing runs, no new model version
    versions = len(client.search_model_versions(f"name='{NAME}'"))
    again = retrain(small_district, promote=True, views=["portfolio"], n_boot=N_BOOT)
    assert again.ran == [] and again.skipped == list(again.steps)
    # a run that stopped before materializing resumes there
    path = Path(last["state_file"])
    state = json.loads(path.read_text())
    del state["steps"]["materialize"]
    path.write_text(json.dumps(state))
    resumed = retrain(small_district, promote=True, views=["portfolio"], n_boot=N_BOOT)
    assert resumed.ran == ["materialize"]
    assert len(client.search_model_versions(f"name='{NAME}'")) == versions


def test_new_category_fails_clearly(store: Path, small_district: Path) -> None:
    bad = _copy(small_district, store / "new-program")
    for part in sorted((bad / "loans").glob("*.parquet")):
        loans = pd.read_parquet(part)
        loans.loc[loans.index[:3], "program"] = "flood_recovery"
        loans.to_parquet(part, index=False)
    with pytest.raises(RetrainError, match=r"new category in loans\.program: flood_recovery"):
        retrain(bad, views=["portfolio"], n_boot=0)


def test_too_few_positives_stop_the_routine_naming_the_view(
    store: Path, small_district: Path, small_features: dict[str, Path]
) -> None:
    """A district too small or too calm for a window: the routine stops with the view, the label
    and the counts (``retrain stopped: ...`` on the command line), not with a traceback."""
    from training.retrain import _train

    table = pd.read_parquet(small_features["portfolio"])
    labelled = table["trouble_12m"].notna()
    oldest = table.loc[labelled, "as_of"].nsmallest(5).index
    table.loc[labelled, "trouble_12m"] = 0
    table.loc[oldest, "trouble_12m"] = 1  # positives in the training window only
    calm = store / "calm-portfolio.parquet"
    table.to_parquet(calm, index=False)
    with pytest.raises(
        RetrainError,
        match=r"portfolio view not trained: label 'trouble_12m' has fewer than 3 positives .*"
        r"valid 0 positive\(s\)",
    ):
        _train({"portfolio": str(calm)}, ["portfolio"], small_district, "trouble_12m", 42, 0)


def test_missing_months_are_named(small_tables: dict[str, pd.DataFrame]) -> None:
    tables = dict(small_tables)
    interest = tables["interest"]
    tables["interest"] = interest[interest["session_date"].dt.strftime("%Y-%m") != "2024-03"]
    export = pd.Timestamp("2025-12-31")
    assert missing_months(dict(small_tables), export) == {}
    assert missing_months(tables, export) == {"C01": ["2024-03"]}


def test_new_commune_is_noted(store: Path, small_district: Path) -> None:
    from training.retrain import _validate
    from vbsp_state.settings import StateSettings

    last = store / "state" / "retrain" / "last.json"
    last.parent.mkdir(parents=True, exist_ok=True)
    saved = last.read_text() if last.is_file() else None
    last.write_text(json.dumps({"communes": ["C99"]}))
    try:
        from features.validation import load_tables

        export = pd.Timestamp(storage.read_manifest(small_district)["export_date"])
        rec = _validate(
            small_district,
            export,
            lambda: load_tables(small_district),
            StateSettings(state_dir=store / "state"),
            None,
        )
        assert any("new commune(s) C01" in n for n in rec["notes"])
    finally:
        if saved is not None:
            last.write_text(saved)
