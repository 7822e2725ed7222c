"""``vbsp-risk score`` writes the champion's portfolio scores; ``serve`` refuses bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.support.served import Served
from vbsp_risk.cli import app


def test_score_writes_the_last_months_of_the_feature_table(
    served: Served, small_district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{(tmp_path / 'service.db').as_posix()}"
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served.tracking_uri)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
    args = [
        "score",
        "--features",
        str(served.features["portfolio"]),
        "--months",
        "2",
        "--data",
        str(small_district),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with sa.create_engine(db).connect() as conn:
        months = conn.execute(
            sa.text(
                "SELECT as_of, COUNT(*), MIN(model_version), MAX(model_version) FROM portfolio_scores "
                "GROUP BY as_of ORDER BY as_of"
            )
        ).all()
    assert len(months) == 2
    assert str(months[-1][0]) == str(served.as_of.date())
    assert {m[2] for m in months} == {m[3] for m in months} == {served.versions["portfolio"]}


def test_serve_fails_fast_on_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBSP_RISK_MAX_BATCH", "0")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert "max_batch" in str(result.exception) or "max_batch" in result.output


def test_worker_processes_listen_with_nagle_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --workers N``: the shared listening socket has TCP_NODELAY (connections accepted
    from it inherit it; without it every answer waited for the client's delayed ACK)."""
    import socket

    import uvicorn
    import uvicorn.supervisors

    from vbsp_risk import serve_cmd

    handed: list[socket.socket] = []

    class Supervisor:  # stands in for uvicorn's process supervisor: no processes started here
        def __init__(self, config: object, sockets: list[socket.socket]) -> None:
            handed.extend(sockets)

        def run(self) -> None:
            pass

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    config = uvicorn.Config(
        "serving.app:create_app", factory=True, host="127.0.0.1", port=0, workers=2
    )
    serve_cmd._serve_workers(config)
    try:
        assert len(handed) == 1
        assert handed[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for s in handed:
            s.close()
