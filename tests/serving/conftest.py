"""Fixtures for the service tests: the real app on a filled database (SQLite and PostgreSQL).

``served`` (the trained, keyed small district) lives in ``tests/support/served.py`` and is
registered once in ``tests/conftest.py``; test modules import its helpers from there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving.app import create_app
from tests.support.db_engines import pg_server_url, postgres_engine
from tests.support.served import Served, fill_database, filled_sqlite_copy
from vbsp_state.engine import make_engine

_PG = pg_server_url()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_db(
    request: pytest.FixtureRequest, served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A filled service database: SQLite always, PostgreSQL when a server is reachable."""
    if request.param == "sqlite":
        engine = make_engine(filled_sqlite_copy(served, tmp_path_factory.mktemp("api-db")))
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
