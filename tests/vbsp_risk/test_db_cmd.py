"""``vbsp-risk db`` through the Typer runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from tests.support.cli_app import state_cli
from vbsp_risk.db_cmd import register
from vbsp_state.migrate import current_revision, head_revision

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    return state_cli(register, tmp_path / "state", monkeypatch)


def test_db_current_and_upgrade(
    cli: typer.Typer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    before = runner.invoke(cli, ["db", "current"])
    assert before.exit_code == 1
    assert "revision none" in before.output and "vbsp-risk db upgrade" in before.output
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    assert current_revision(engine) == head_revision()
    after = runner.invoke(cli, ["db", "current"])
    assert after.exit_code == 0
    assert f"revision {head_revision()} (code: {head_revision()})" in after.output


def test_db_upgrade_defaults_to_sqlite_in_the_state_folder(
    cli: typer.Typer, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "service.db").is_file()
