"""Shared fixtures: simulated districts built once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from features import storage
from features.simulator import SimConfig, simulate
from tests.db_engines import pg_server_url, postgres_engine, sqlite_engine
from tests.served import served  # noqa: F401  (session fixture shared by every test package)

SMALL = SimConfig(households=600, seed=7, start="2019-01", end="2025-12")


@pytest.fixture(scope="session")
def small_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated district (600 borrowers, 7 years) shared by integration tests."""
    out = tmp_path_factory.mktemp("small-district")
    simulate(out, SMALL)
    return out


@pytest.fixture(scope="session")
def default_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default (Dakrong-size) district, for calibration tests only."""
    out = tmp_path_factory.mktemp("default-district")
    simulate(out, SimConfig())
    return out


@pytest.fixture(scope="session")
def small_tables(small_district: Path) -> dict[str, pd.DataFrame]:
    """The small district's tables, typed and validated."""
    from features.validation import load_tables

    return load_tables(small_district)


@pytest.fixture(scope="session")
def small_export(small_district: Path) -> pd.Timestamp:
    """The small district's export date."""
    return pd.Timestamp(storage.read_manifest(small_district)["export_date"])


_PG = pg_server_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database: SQLite always, PostgreSQL when a server is reachable (CI has one)."""
    if request.param == "sqlite":
        yield sqlite_engine(tmp_path)
    else:
        if _PG is None:
            pytest.skip("no PostgreSQL server reachable (CI always provides one)")
        yield from postgres_engine(_PG)
