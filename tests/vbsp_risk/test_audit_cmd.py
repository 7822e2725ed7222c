"""``vbsp-risk audit report``: the security log's refusals per client and day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from vbsp_risk.audit_cmd import UNKNOWN, register
from vbsp_state.migrate import upgrade
from vbsp_state.schema import security_events

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Root."""

    register(app)
    return app


def _event(at: datetime, status: int, client: str | None, kind: str = "refusal") -> dict:
    return {
        "created_at": at,
        "kind": kind,
        "status": status,
        "method": "GET",
        "route": "/v1/models",
        "request_id": "r",
        "client_id": client,
        "role": "officer" if client else None,
        "reason": "test",
    }


def test_report_counts_refusals_per_client_and_day(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(engine)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    today, yesterday, old = now.date(), (now - timedelta(days=1)).date(), now - timedelta(days=90)
    with engine.begin() as conn:
        conn.execute(
            security_events.insert(),
            [
                _event(now, 401, None),
                _event(now, 401, None),
                _event(now, 403, "officer-1"),
                _event(now, 404, "officer-1"),
                _event(now - timedelta(days=1), 403, "officer-1"),
                _event(now, 200, "officer-1", kind="admin"),
                _event(old, 401, None),
            ],
        )
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = runner.invoke(_cli(), ["audit", "report", "--json", "--days", "30"])
    assert result.exit_code == 0, result.output
    rows = {(r["day"], r["client_id"]): r for r in map(json.loads, result.output.splitlines())}
    assert set(rows) == {
        (today.isoformat(), UNKNOWN),
        (today.isoformat(), "officer-1"),
        (yesterday.isoformat(), "officer-1"),
    }
    assert rows[(today.isoformat(), UNKNOWN)]["401"] == 2  # the 90-day-old one is left out
    mine = rows[(today.isoformat(), "officer-1")]
    assert (mine["refused"], mine["403"], mine["404"], mine["admin"]) == (2, 1, 1, 1)
    table = runner.invoke(_cli(), ["audit", "report"])
    assert table.exit_code == 0 and "officer-1" in table.output


def test_report_refuses_an_unmigrated_database(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = runner.invoke(_cli(), ["audit", "report"])
    assert result.exit_code == 2 and "vbsp-risk db upgrade" in result.output
