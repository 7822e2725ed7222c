"""The small district trained, served and keyed, built once per session (``served``).

Declared here and registered in ``tests/conftest.py`` only (with the helpers the tests of it share), so the service, browser and
hardening tests share one instance.

``served`` trains both views on the small simulated district into a fresh MLflow store, makes
them champions, migrates a service database, fills the online store and six months of portfolio
scores, and writes an API keys file with one client per role.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy.engine import Engine

from features import storage
from features.build import build_feature_table
from features.online_store import default_as_of, materialize
from features.validation import load_tables
from serving import clock
from serving.auth import add_client
from serving.model_store import load_registered
from serving.portfolio import feature_table_months, score_frame, write_scores
from serving.settings import ServiceSettings
from training import tracking
from training.pipeline import run_training
from vbsp_state.migrate import upgrade

VIEWS = ("portfolio", "application")
OTHER = "C-OTHER"
PII_KEY = hashlib.sha256(b"vbsp-risk-test-pii-key").hexdigest()


@dataclass
class Served:
    """Paths, URIs and keys of the served small district."""

    folder: Path
    tracking_uri: str
    features: dict[str, Path]
    keys_file: Path
    keys: dict[str, str] = field(default_factory=dict)
    communes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    as_of: pd.Timestamp | None = None

    def settings(self, db_url: str, **overrides: object) -> ServiceSettings:
        """Service settings for this state and a database."""
        values = dict(
            state_dir=self.folder / "state", database_url=db_url, tracking_uri=self.tracking_uri,
            api_keys_file=self.keys_file, pii_key=PII_KEY, reload_interval_seconds=0,
            bench_endpoints=True, public_origins=("http://testserver",),
        )  # fmt: skip
        values.update(overrides)
        return ServiceSettings(**values)


def fill_database(engine: Engine, served: Served) -> None:
    """Migrate, materialize the online store and write six months of portfolio scores."""
    upgrade(engine)
    materialize(served.tables, engine, served.as_of)
    model = load_registered(served.tracking_uri, "overdue-risk-portfolio", "champion")
    frame = feature_table_months(
        pd.read_parquet(served.features["portfolio"]), 6, served.tables["households"]
    )
    write_scores(engine, score_frame(model, frame))


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, small_district: Path) -> Iterator[Served]:
    """Both views trained on the small district and made champions; keys for every role."""
    folder = tmp_path_factory.mktemp("served")
    tables = load_tables(small_district)
    export = pd.Timestamp(storage.read_manifest(small_district)["export_date"])
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    features = {}
    for view in VIEWS:
        features[view] = folder / f"{view}.parquet"
        build_feature_table(tables, view, export).to_parquet(features[view], index=False)
    s = Served(folder, uri, features, folder / "api_keys.json", tables=tables)
    s.as_of = default_as_of(export)
    s.communes = sorted(tables["communes"]["commune_id"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("VBSP_RISK_STATE_DIR", str(folder / "state"))
        mp.setenv("VBSP_RISK_DATABASE_URL", f"sqlite:///{(folder / 'audit.db').as_posix()}")
        tracking.configure()
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for view in VIEWS:
            res = run_training(
                features[view], view=view, n_boot=20, truth_dir=small_district / "truth",
                pool_features=features["portfolio"] if view == "application" else None,
            )  # fmt: skip
            name = f"overdue-risk-{view}"
            client.set_registered_model_alias(name, "champion", res["model_version"])
            s.versions[view] = str(res["model_version"])
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    first = s.communes[0]
    for role, communes in (("officer", [first]), ("inspector", [first]), ("data", None),
                           ("admin", None)):  # fmt: skip
        s.keys[role] = add_client(s.keys_file, f"test-{role}", role, communes)
    s.keys["officer_all"] = add_client(s.keys_file, "test-officer-all", "officer", None)
    # Scoped to a commune the small district does not have: it may see none of its households.
    s.keys["officer_other"] = add_client(s.keys_file, "test-officer-other", "officer", [OTHER])
    s.keys["inspector_other"] = add_client(
        s.keys_file, "test-inspector-other", "inspector", [OTHER]
    )
    s.keys["inspector_all"] = add_client(s.keys_file, "test-inspector-all", "inspector", None)
    yield s


def write_places(served: Served, state_dir: Path) -> Path:
    """The communes and villages tables where the service looks for transaction days."""
    folder = state_dir / "data" / "district"
    folder.mkdir(parents=True, exist_ok=True)
    served.tables["communes"].to_parquet(folder / "communes.parquet", index=False)
    served.tables["villages"].to_parquet(folder / "villages.parquet", index=False)
    return state_dir


def headers(served: Served, role: str) -> dict[str, str]:
    """Request headers with the test key of ``role``."""
    return {"X-API-Key": served.keys[role]}


def count_audit(engine: Engine) -> int:
    """Rows in the score audit log."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM score_audit")).scalar_one()


def month_start(served: Served, k: int) -> str:
    """``YYYY-MM``, ``k`` months after the month of the served scores' date."""
    return clock.add_months(clock.month_of(served.as_of.date()), k)


def set_today(client: TestClient, day: date) -> None:
    """The service's "today" (the :func:`serving.clock.today` dependency), for this client."""
    client.app.dependency_overrides[clock.today] = lambda: day  # type: ignore[attr-defined]


def first_day(month: str) -> date:
    """The first day of ``YYYY-MM``."""
    return date(int(month[:4]), int(month[5:7]), 1)


def last_day(month: str) -> date:
    """The last day of ``YYYY-MM``."""
    y, m = int(month[:4]), int(month[5:7])
    return date(y, m, calendar.monthrange(y, m)[1])
