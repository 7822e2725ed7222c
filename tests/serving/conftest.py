"""Fixtures for the service tests: the real app on a filled database (SQLite and PostgreSQL).

``served`` (the trained, keyed small district) lives in ``tests/served.py`` and is registered once
in ``tests/conftest.py``; its helpers are re-exported here for the test modules.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving.app import create_app
from tests.db_engines import pg_server_url, postgres_engine
from tests.served import OTHER, PII_KEY, VIEWS, Served, fill_database
from vbsp_state.engine import make_engine

__all__ = ["OTHER", "PII_KEY", "VIEWS", "Served", "count_audit", "fill_database", "headers"]

_PG = pg_server_url()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_db(
    request: pytest.FixtureRequest, served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A filled service database: SQLite always, PostgreSQL when a server is reachable."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("api-db")
        engine = make_engine(f"sqlite:///{(folder / 'service.db').as_posix()}")
        fill_database(engine, served)
        yield engine
        engine.dispose()
        return
    if _PG is None:
        pytest.skip("no PostgreSQL server reachable (CI always provides one)")
    for engine in postgres_engine(_PG):
        fill_database(engine, served)
        yield engine


@pytest.fixture(scope="module")
def api(served: Served, api_db: Engine) -> Iterator[TestClient]:
    """The real app (lifespan: keys, champions from MLflow) on the filled database."""
    url = api_db.url.render_as_string(hide_password=False)
    with TestClient(create_app(served.settings(url))) as client:
        yield client


def headers(served: Served, role: str) -> dict[str, str]:
    """Request headers with the test key of ``role``."""
    return {"X-API-Key": served.keys[role]}


def count_audit(engine: Engine) -> int:
    """Rows in the score audit log."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM score_audit")).scalar_one()
