"""Shared fixtures (simulated districts built once per test run) and the test tiers.

Tiers (README, "Tests"): ``unit`` (no shared district, no database), ``integration`` (the shared
district, the served models or a database) — both in ``make test``, in parallel — and ``system``
(kill -9 and crash cycles, load shedding, fuzzing, the browser, notebooks, the full-district
calibration, Dask clusters of worker processes, districts simulated for one module), in
``make test-all``. ``system`` is set per module (``pytestmark``), per folder
(:data:`SYSTEM_FOLDERS`) or by fixture (:data:`SYSTEM_FIXTURES`); ``integration`` and ``unit`` are derived here from the fixtures a test
uses, so a new test lands in the right tier without being marked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from features import storage
from features.simulator import SimConfig, simulate
from tests.support.db_engines import pg_server_url, postgres_engine, sqlite_engine
from tests.support.districts import SMALL, TWO_COMMUNES, shared_folder
from tests.support.served import served  # noqa: F401  (session fixture shared by every package)

SYSTEM_FOLDERS = ("browser", "notebooks")
"""Test folders whose every test is in the system tier."""

SYSTEM_FIXTURES = frozenset(
    {
        "default_district",  # the full district's calibration
        "dask_engine",  # a Dask cluster of worker processes (features, scores)
        "dask_client",  # the same for distributed training
        "dask_scheduler",  # the same for the score command
        "three_commune_reports",  # the monitor's own 2,000-household district, trained twice
    }
)
"""Fixtures that put a test in the system tier: minutes of CPU each, run by ``make test-all``."""

INTEGRATION_FIXTURES = frozenset(
    {
        "small_district",
        "two_communes",
        "small_tables",
        "small_export",
        "small_features",
        "small_training_data",
        "served",
        "engine",
        "api_db",
    }
)
"""Fixtures that make a test an integration test (a district, trained models or a database)."""


ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
"""Thread pools of the numerical libraries (BLAS, OpenMP) held to one thread in xdist workers."""


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist (``-n 2``), start the workers with single-threaded BLAS and OpenMP.

    The workers already take every core: a worker's BLAS threads would only fight the other
    worker for them, and OpenBLAS threads that wait for a descheduled sibling spin — a logistic
    fit then takes several times longer than on one thread (docs/measurements.md). Set here, in
    the controller before the workers start, so the libraries read it when they load; a value
    the caller set is kept, and a run without workers keeps the libraries' defaults. Also
    checks that every module of :data:`LONGEST_FIRST` exists.
    """
    if getattr(config, "workerinput", None) is None and getattr(config.option, "numprocesses", 0):
        for name in ONE_THREAD:
            os.environ.setdefault(name, "1")
    missing = [m for m in LONGEST_FIRST if not (Path(__file__).parent / m).is_file()]
    if missing:  # a renamed module would silently lose its place
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST: no such module {missing}")


LONGEST_FIRST = (
    "vbsp_risk/test_retrain.py",
    "training/test_pipeline.py",
    "training/test_registry.py",
    "features/test_validation.py",
    "serving/test_faults.py",
    "serving/test_security.py",
    "serving/test_api.py",
    "features/test_partitions.py",
    "features/test_context.py",
    "vbsp_risk/test_data_faults.py",
    "features/test_online_store.py",
    "training/test_train.py",
    "features/test_history.py",
    "serving/test_access.py",
    "training/test_fairness.py",
)
"""The longest modules of ``make test``, longest first (``--durations`` of a whole run).

``make test`` gives each module to one xdist worker (``--dist loadscope``) in collection order
(``--no-loadscope-reorder``): these go first, the short rest after, so the two workers end
together instead of one finishing a long module alone (longest-processing-time-first). A module
missing here only runs later; the order changes no result."""


def _module_rank(item: pytest.Item) -> int:
    """The module's place in :data:`LONGEST_FIRST` (the length of it when not listed)."""
    module = item.path.relative_to(Path(__file__).parent).as_posix()
    return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test in its tier (``system`` by folder or mark, else integration or unit), and
    the longest modules first (:data:`LONGEST_FIRST`; a stable sort: each module's tests and the
    other modules keep their order)."""
    for item in items:
        parts = item.path.relative_to(Path(__file__).parent).parts
        if parts[0] in SYSTEM_FOLDERS or SYSTEM_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.system)
        if item.get_closest_marker("system") is None:
            used = INTEGRATION_FIXTURES.intersection(item.fixturenames)
            item.add_marker(pytest.mark.integration if used else pytest.mark.unit)
    items.sort(key=_module_rank)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """xdist's worker id (``gw0``, ...), or ``"master"`` — also under ``-p no:xdist``, where
    xdist's own fixture of this name does not exist."""
    workerinput = getattr(request.config, "workerinput", None)
    return "master" if workerinput is None else str(workerinput["workerid"])


@pytest.fixture(scope="session")
def small_district(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A small simulated district (600 borrowers, 7 years) shared by integration tests."""
    return shared_folder(
        tmp_path_factory, worker_id, "small-district", lambda o: simulate(o, SMALL)
    )


@pytest.fixture(scope="session")
def two_communes(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A district stored in two communes (:data:`tests.support.districts.TWO_COMMUNES`),
    simulated once per test run. Read-only: a test that changes it works on a copy."""
    return shared_folder(
        tmp_path_factory, worker_id, "two-communes", lambda o: simulate(o, TWO_COMMUNES)
    )


@pytest.fixture(scope="session")
def default_district(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The default (Dakrong-size) district, for calibration tests only."""
    return shared_folder(
        tmp_path_factory, worker_id, "default-district", lambda o: simulate(o, SimConfig())
    )


def _build_small_features(out: Path, district: Path) -> None:
    from features.build import build_feature_table
    from features.catalog import VIEWS
    from features.validation import load_tables

    tables = load_tables(district)
    export = pd.Timestamp(storage.read_manifest(district)["export_date"])
    for view in VIEWS:
        build_feature_table(tables, view, export).to_parquet(out / f"{view}.parquet", index=False)


@pytest.fixture(scope="session")
def small_features(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, small_district: Path
) -> dict[str, Path]:
    """The small district's feature tables (view → Parquet file), built once per test run and
    shared (read-only) by the training tests and the served models."""
    from features.catalog import VIEWS

    folder = shared_folder(
        tmp_path_factory,
        worker_id,
        "small-features",
        lambda out: _build_small_features(out, small_district),
    )
    return {view: folder / f"{view}.parquet" for view in VIEWS}


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
