"""The small district trained, served and keyed, built once per test run (``served``).

Declared here and registered in ``tests/conftest.py`` only (with the helpers the tests of it
share), so the service, browser and hardening tests of every xdist worker share one instance.

``served`` trains both views on the small simulated district into a fresh MLflow store, makes
them champions, writes an API keys file with one client per role and a template service
database (migrated, the online store and six months of portfolio scores filled) that tests copy.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import shutil
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
from features.catalog import VIEWS
from features.online_store import default_as_of, materialize
from features.validation import load_tables
from serving import clock
from serving.auth import add_client
from serving.model_store import load_registered
from serving.portfolio import feature_table_months, score_frame, write_scores
from serving.settings import ServiceSettings
from tests.support.districts import shared_folder
from training import tracking
from training.pipeline import run_training
from vbsp_state.engine import make_engine
from vbsp_state.migrate import upgrade
from vbsp_state.registry_names import CHAMPION, PORTFOLIO_MODEL, model_name

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
            state_dir=self.folder / "state",
            database_url=db_url,
            tracking_uri=self.tracking_uri,
            api_keys_file=self.keys_file,
            pii_key=PII_KEY,
            reload_interval_seconds=0,
            bench_endpoints=True,
            public_origins=("http://testserver",),
        )
        values.update(overrides)
        return ServiceSettings(**values)


_SCORES: dict[str, pd.DataFrame] = {}
"""The served champion's six months of portfolio scores, per served store, for this process."""


def _portfolio_scores(served: Served) -> pd.DataFrame:
    """Six months of portfolio scores by the served champion, computed once per process: every
    database filled from one store gets the same rows (read-only; ``write_scores`` copies)."""
    if served.tracking_uri not in _SCORES:
        model = load_registered(served.tracking_uri, PORTFOLIO_MODEL, CHAMPION)
        frame = feature_table_months(
            pd.read_parquet(served.features["portfolio"]), 6, served.tables["households"]
        )
        _SCORES[served.tracking_uri] = score_frame(model, frame)
    return _SCORES[served.tracking_uri]


def fill_database(engine: Engine, served: Served) -> None:
    """Migrate, materialize the online store and write six months of portfolio scores."""
    upgrade(engine)
    materialize(served.tables, engine, served.as_of)
    write_scores(engine, _portfolio_scores(served))


SERVED_JSON = "served.json"
"""The built store's keys and champion versions, for the workers that did not build it."""
TEMPLATE_DB = "service-template.db"
"""A filled service database (SQLite) that tests copy instead of filling their own."""


def _train_champions(folder: Path, district: Path, features: dict[str, Path]) -> dict[str, str]:
    """Both views trained into ``folder``'s MLflow store and made champions; view → version.

    ``monotone="catalog"``: the catalog's constraints without the adaptive search (which has its
    own tests in ``tests/training/test_monotone.py``); the served tests read scores, not how the
    constraints were chosen.
    """
    import mlflow

    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    versions = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("VBSP_RISK_STATE_DIR", str(folder / "state"))
        mp.setenv("VBSP_RISK_DATABASE_URL", f"sqlite:///{(folder / 'audit.db').as_posix()}")
        tracking.configure()
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for view in VIEWS:
            res = run_training(
                features[view],
                view=view,
                n_boot=20,
                truth_dir=district / "truth",
                pool_features=features["portfolio"] if view == "application" else None,
                monotone="catalog",
            )
            client.set_registered_model_alias(model_name(view), CHAMPION, res.model_version)
            versions[view] = str(res.model_version)
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return versions


def _issue_keys(keys_file: Path, communes: list[str]) -> dict[str, str]:
    """One client per role (scoped to the first commune where a role is scoped) and the
    all-commune and wrong-commune variants the access tests need; name → key."""
    first = communes[0]
    keys = {}
    for role, scope in (
        ("officer", [first]),
        ("inspector", [first]),
        ("data", None),
        ("admin", None),
    ):
        keys[role] = add_client(keys_file, f"test-{role}", role, scope)
    keys["officer_all"] = add_client(keys_file, "test-officer-all", "officer", None)
    # Scoped to a commune the small district does not have: it may see none of its households.
    keys["officer_other"] = add_client(keys_file, "test-officer-other", "officer", [OTHER])
    keys["inspector_other"] = add_client(keys_file, "test-inspector-other", "inspector", [OTHER])
    keys["inspector_all"] = add_client(keys_file, "test-inspector-all", "inspector", None)
    return keys


def _served(folder: Path, district: Path, features: dict[str, Path]) -> Served:
    """The :class:`Served` of a built folder (its tables read from the district)."""
    tables = load_tables(district)
    export = pd.Timestamp(storage.read_manifest(district)["export_date"])
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    s = Served(folder, uri, features, folder / "api_keys.json", tables=tables)
    s.as_of = default_as_of(export)
    s.communes = sorted(tables["communes"]["commune_id"])
    if (folder / SERVED_JSON).is_file():
        built = json.loads((folder / SERVED_JSON).read_text(encoding="utf-8"))
        s.keys, s.versions = built["keys"], built["versions"]
    return s


def build_served(folder: Path, district: Path, features: dict[str, Path]) -> None:
    """Fill an empty folder: the trained store, keys and the template service database."""
    s = _served(folder, district, features)
    s.versions = _train_champions(folder, district, s.features)
    s.keys = _issue_keys(s.keys_file, s.communes)
    engine = make_engine(f"sqlite:///{(folder / TEMPLATE_DB).as_posix()}")
    fill_database(engine, s)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    doc = {"keys": s.keys, "versions": s.versions}
    (folder / SERVED_JSON).write_text(json.dumps(doc), encoding="utf-8")


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
    small_district: Path,
    small_features: dict[str, Path],
) -> Served:
    """Both views trained on the small district and made champions; keys for every role.

    Built once per test run (:func:`tests.support.districts.shared_folder`): the folder is
    shared by the xdist workers, so treat it as read-only — a test that registers versions or
    moves aliases works on a copy of ``mlflow.db`` (as ``test_model_store`` and ``test_faults``
    do), a test that writes to a service database copies :func:`filled_sqlite_copy`'s template.
    """
    folder = shared_folder(
        tmp_path_factory,
        worker_id,
        "served",
        lambda out: build_served(out, small_district, small_features),
    )
    return _served(folder, small_district, small_features)


def filled_sqlite_copy(served: Served, folder: Path) -> str:
    """URL of a fresh copy of the filled service database built with ``served``, as
    ``folder/service.db`` (a test may open that file itself, e.g. to hold its lock)."""
    path = folder / "service.db"
    shutil.copy(served.folder / TEMPLATE_DB, path)
    return f"sqlite:///{path.as_posix()}"


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
