"""Faults the service must survive without a 500: a database locked beyond the busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.db import make_engine
from serving.app import create_app
from tests.serving.conftest import Served, fill_database, headers


def test_database_locked_beyond_the_busy_timeout_is_503_with_retry_after(
    served: Served, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path.as_posix()}")
    fill_database(engine, served)
    with engine.connect() as conn:
        hid = conn.execute(sa.text(
            "SELECT entity_id FROM online_features WHERE entity_type = 'household' LIMIT 1")).scalar_one()  # fmt: skip
    body = {"household_id": hid, "program": "poor_household", "purpose": "crops",
            "amount": 10_000_000, "term_months": 24}  # fmt: skip
    with TestClient(create_app(served.settings(f"sqlite:///{path.as_posix()}"))) as api:
        assert (
            api.post(
                "/v1/applications/score", json=body, headers=headers(served, "data")
            ).status_code
            == 200
        )
        blocker = sqlite3.connect(path, timeout=0.1)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            r = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
        finally:
            blocker.rollback()
            blocker.close()
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and "retry" in r.json()["detail"]
        after = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
        assert after.status_code == 200  # recovers once the lock is gone
