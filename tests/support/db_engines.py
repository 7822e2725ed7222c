"""Database engines for storage tests: SQLite always, PostgreSQL when a server is reachable.

CI (``.ci/run``) starts or uses a PostgreSQL server on loopback and sets
``VBSP_RISK_TEST_DATABASE_URL`` (a server URL whose database is only used to create and drop a
fresh database per test session), so both back ends always run there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vbsp_state.engine import make_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pg_server_url() -> str | None:
    """A reachable PostgreSQL server URL, or None."""
    url = os.environ.get("VBSP_RISK_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return url
    except Exception:
        return None


def sqlite_engine(folder: Path) -> Engine:
    """A fresh SQLite database file in ``folder``."""
    return make_engine(f"sqlite:///{(folder / f'{uuid.uuid4().hex}.db').as_posix()}")


def postgres_engine(server_url: str) -> Iterator[Engine]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = f"vbsp_risk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server_url).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
