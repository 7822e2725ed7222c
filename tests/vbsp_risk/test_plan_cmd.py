"""``vbsp-risk plan``: a commune's month planned from the champion's scores, printed and stored
once (a second plan for the month only with ``--replace``; ``--dry-run`` stores nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.support.served import Served, filled_sqlite_copy
from vbsp_risk.cli import app
from vbsp_state.engine import make_engine


@pytest.fixture()
def db(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    engine = make_engine(filled_sqlite_copy(served, tmp_path))
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("VBSP_RISK_TRACKING_URI", served.tracking_uri)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))  # no places: ids shown
    yield engine
    engine.dispose()


def _plan(*extra: str) -> tuple[int, str]:
    args = ["plan", "--month", "2026-03", "--transaction-day", "10", "--seed", "4", *extra]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _stored(engine: sa.Engine, commune: str) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT p.plan_id, COUNT(v.visit_id) FROM inspection_plans p "
                "JOIN plan_visits v ON v.plan_id = p.plan_id WHERE p.commune_id = :c "
                "GROUP BY p.plan_id"
            ),
            {"c": commune},
        ).all()


def test_plan_is_printed_and_stored_once_per_month(served: Served, db: sa.Engine) -> None:
    commune = served.communes[0]
    code, out = _plan("--commune", commune, "--dry-run", "--capacity", "4", "--days", "2")
    assert code == 0, out
    assert "8 visits" in out and "stored" not in out
    assert _stored(db, commune) == []

    code, out = _plan("--commune", commune, "--capacity", "4", "--days", "2")
    assert code == 0, out
    [(plan_id, visits)] = _stored(db, commune)
    assert visits == 8 and f"plan {plan_id} stored" in out

    code, out = _plan("--commune", commune)
    assert code == 1 and f"already has plan {plan_id}" in out
    assert _stored(db, commune) == [(plan_id, 8)]

    code, out = _plan("--commune", commune, "--replace")
    assert code == 0, out
    [(new_id, visits)] = _stored(db, commune)
    assert new_id != plan_id and visits == 24  # 8 a day for 3 days by default


def test_plan_refuses_bad_options_and_unscored_communes(served: Served, db: sa.Engine) -> None:
    code, out = _plan("--commune", served.communes[0], "--sort", "names")
    assert code == 2 and "--sort must be risk or exposure" in out
    code, out = _plan("--commune", "C99")
    assert code == 1 and "no portfolio scores" in out
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM inspection_plans")).scalar_one() == 0
