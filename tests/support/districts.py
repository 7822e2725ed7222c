"""The simulated districts of the test session, built once per test run.

Under pytest-xdist every worker is its own process with its own session: a session fixture would
simulate the district once per worker. :func:`shared_folder` builds it once for the whole run,
under the run's shared temporary folder with a file lock (the pattern of the pytest-xdist docs);
the first worker to take the lock builds, the others wait and read. Without xdist it is a plain
session folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from features.simulator import SimConfig

SMALL = SimConfig(households=600, seed=7, start="2019-01", end="2025-12")
"""The small district (600 borrowers, 7 years) the integration tests share."""

TWO_COMMUNES = SimConfig(households=1300, seed=11, start="2023-01", end="2024-12")
"""The smallest district stored in several communes (two: C01, C02; 2 years), shared by the
commune-by-commune loading tests and the simulator's re-run test."""


def shared_folder(
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
    name: str,
    build: Callable[[Path], None],
) -> Path:
    """A folder filled by ``build`` once per test run, shared by the xdist workers.

    Args:
        tmp_path_factory: The session's factory (its base folder is per worker under xdist).
        worker_id: xdist's ``worker_id`` fixture (``"master"`` without xdist).
        name: The folder's name.
        build: Fills an empty folder; run by one process only.

    Returns:
        The built folder (treat it as read-only: other workers read it at the same time).
    """
    if worker_id == "master":
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of this run
    out, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            build(out)
            done.touch()
    return out
