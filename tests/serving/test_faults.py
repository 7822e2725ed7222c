"""Faults the service must survive without a 500.

* Model faults (a table): at start the service is not ready (``/readyz`` 503 naming the reason),
  scoring is 503 and the log says why; at reload the old model keeps serving, same version.
* A database locked beyond the busy timeout: 503 with ``Retry-After``, then recovery.
"""

from __future__ import annotations

import logging
import shutil
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy.engine import Engine

from serving.app import create_app
from serving.lifecycle import reload_models
from tests.support.live_server import SCORE, application, filled_sqlite, household_ids
from tests.support.model_files import change_a_leaf
from tests.support.served import Served, count_audit, headers
from vbsp_state.engine import make_engine

APP = "overdue-risk-application"


@dataclass
class Registry:
    """A private copy of the served MLflow store; faults change it, never the shared one."""

    path: Path
    folder: Path
    client: MlflowClient

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path.as_posix()}"

    def champion_with(self, change: Callable[[Path], None], checksums: bool = False) -> str:
        """Register a copy of the champion's files changed by ``change``; make it champion.

        ``checksums``: the new version carries the champion's file digests (its files were
        changed after they were registered)."""
        v1 = self.client.get_model_version_by_alias(APP, "champion")
        source = Path(
            self.client.get_model_version_download_uri(APP, v1.version).removeprefix("file://")
        )
        copy = self.folder / "broken-model"
        shutil.copytree(source, copy)
        change(copy / "artifacts")
        v2 = self.client.create_model_version(APP, copy.as_uri(), v1.run_id)
        for key, value in v1.tags.items():
            if checksums and key.startswith("sha256."):
                self.client.set_model_version_tag(APP, v2.version, key, value)
        self.client.set_registered_model_alias(APP, "champion", v2.version)
        return str(v2.version)


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return change


def _overwrite_digits(folder: Path) -> None:
    """Same length, digits overwritten inside the trees' values (crashes LightGBM's parser).

    Only digits of value lines: an ``X`` in a ``Tree=`` line would move a tree's header, which
    the structural check reports as ``truncated or corrupt`` before the parser runs."""
    data = bytearray((folder / "booster.txt").read_bytes())
    start, end = data.index(b"Tree=0"), data.index(b"end of trees")
    for i in range(start + 200, end - 200, max(1, (end - start) // 40)):
        j = i
        while not chr(data[j]).isdigit() or data.startswith(b"Tree=", data.rfind(b"\n", 0, j) + 1):
            j += 1
        data[j] = ord("X")
    (folder / "booster.txt").write_bytes(bytes(data))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _not_registered(reg: Registry) -> str | None:
    reg.client.delete_registered_model(APP)
    return None


def _alias_to_deleted_version(reg: Registry) -> str | None:
    version = reg.champion_with(lambda folder: None)
    reg.client.delete_model_version(APP, version)
    return None


def _missing_store_file(reg: Registry) -> str | None:
    reg.path.rename(reg.path.with_suffix(".moved"))
    return None


def _server_unreachable(reg: Registry) -> str | None:
    return f"http://127.0.0.1:{_closed_port()}"


# fault → (apply it to a registry: returns a tracking URI replacing the registry's, or None;
#          words the readiness reason and the log line must contain)
FAULTS: dict[str, tuple[Callable[[Registry], str | None], str]] = {
    "not registered": (_not_registered, "cannot resolve models:/overdue-risk-application@champion"),
    "alias to a deleted version": (_alias_to_deleted_version, "cannot resolve"),
    "truncated booster": (
        lambda r: r.champion_with(_truncate("booster.txt", 0.5)) and None,
        "booster.txt is truncated",
    ),
    "booster cut in its trailer": (
        lambda r: r.champion_with(_truncate("booster.txt", 0.995)) and None,
        "booster.txt is truncated",
    ),
    "corrupted booster": (
        lambda r: r.champion_with(_overwrite_digits) and None,
        "booster.txt is corrupt",
    ),
    "booster altered after registration": (
        lambda r: r.champion_with(change_a_leaf, checksums=True) and None,
        "booster.txt differs from the file registered",
    ),
    "truncated calibrator": (
        lambda r: r.champion_with(_truncate("calibrator.json", 0.5)) and None,
        "is unreadable",
    ),
    "calibrator without parameters": (
        lambda r: (
            r.champion_with(lambda f: (f / "calibrator.json").write_text('{"method": "platt"}'))
            and None
        ),
        "smoke check failed",
    ),
    "tracking store file missing": (_missing_store_file, "tracking store unreachable"),
    "tracking server unreachable": (_server_unreachable, "127.0.0.1"),
}


@dataclass
class Fault:
    """One fault of :data:`FAULTS`, to plant in its own copy of the served registry."""

    registry: Registry
    apply: Callable[[Registry], str | None]
    words: str

    def plant(self) -> str | None:
        """Break the registry; a tracking URI that replaces the registry's, or ``None``."""
        return self.apply(self.registry)

    def logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """The error log says the application view was not loaded, and why."""
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("application view not (re)loaded" in m and self.words in m for m in logged), (
            logged
        )


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest, served: Served, tmp_path: Path) -> Fault:
    path = tmp_path / "mlflow.db"
    shutil.copy(served.folder / "mlflow.db", path)
    uri = f"sqlite:///{path.as_posix()}"
    registry = Registry(path, tmp_path, MlflowClient(tracking_uri=uri, registry_uri=uri))
    return Fault(registry, *FAULTS[request.param])


@pytest.fixture(scope="module")
def filled_db(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(filled_sqlite(served, tmp_path_factory.mktemp("faults")))
    yield engine
    engine.dispose()


def _application(engine: Engine) -> dict:
    return application(household_ids(engine.url.render_as_string(), 1)[0])


def _score(api: TestClient, served: Served, engine: Engine) -> httpx.Response:
    """An application scored with a ``data`` key."""
    return api.post(SCORE, json=_application(engine), headers=headers(served, "data"))


def test_model_fault_at_start_is_not_ready_with_the_reason(
    fault: Fault, served: Served, filled_db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    uri = fault.plant() or fault.registry.uri
    settings = served.settings(filled_db.url.render_as_string(), tracking_uri=uri)
    before = count_audit(filled_db)
    with caplog.at_level(logging.ERROR), TestClient(create_app(settings)) as api:
        ready = api.get("/readyz")
        r = _score(api, served, filled_db)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready" and "application" not in body["models"]
    assert any("no application model" in p and fault.words in p for p in body["problems"]), body
    assert r.status_code == 503 and r.headers["retry-after"], r.text
    assert "no application model is loaded" in r.json()["detail"]
    assert count_audit(filled_db) == before
    fault.logged(caplog)


def test_model_fault_at_reload_keeps_the_old_model_serving(
    fault: Fault, served: Served, filled_db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = served.settings(filled_db.url.render_as_string(), tracking_uri=fault.registry.uri)
    with TestClient(create_app(settings)) as api:
        version = served.versions["application"]
        assert api.get("/readyz").status_code == 200
        svc = api.app.state.services
        svc.tracking_uri = fault.plant() or svc.tracking_uri
        with caplog.at_level(logging.ERROR):
            result = reload_models(svc, "test")
        assert result["application"].startswith("failed") and fault.words in result["application"]
        ready = api.get("/readyz")
        r = _score(api, served, filled_db)
    assert ready.status_code == 200 and ready.json()["models"]["application"] == f"{APP} v{version}"
    assert r.status_code == 200 and r.json()["model"]["version"] == version
    fault.logged(caplog)


def test_database_locked_beyond_the_busy_timeout_is_503_with_retry_after(
    served: Served, tmp_path: Path
) -> None:
    url = filled_sqlite(served, tmp_path)
    path = tmp_path / "service.db"
    body = _application(make_engine(url))
    with TestClient(create_app(served.settings(url))) as api:
        assert api.post(SCORE, json=body, headers=headers(served, "data")).status_code == 200
        blocker = sqlite3.connect(path, timeout=0.1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            r = api.post(SCORE, json=body, headers=headers(served, "data"))
        finally:
            blocker.rollback()
            blocker.close()
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and "retry" in r.json()["detail"]
        after = api.post(SCORE, json=body, headers=headers(served, "data"))
        assert after.status_code == 200  # recovers once the lock is gone
