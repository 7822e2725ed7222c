"""A root Typer app holding one command module, for tests of that module alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from click.testing import Result


def sub_app(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """A root app with a no-op callback (so sub-command groups keep their names) and the
    commands that ``register`` adds."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Root."""

    register(app)
    return app


def state_cli(
    register: Callable[[typer.Typer], None], state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> typer.Typer:
    """:func:`sub_app` with the state folder at ``state_dir`` and no database URL set (the
    state's default SQLite database applies)."""
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(state_dir))
    monkeypatch.delenv("VBSP_RISK_DATABASE_URL", raising=False)
    return sub_app(register)


def features_cli(data: Path, out: Path, *options: str) -> Result:
    """``vbsp-risk features --data DATA --out OUT [options]``, run in this process."""
    from typer.testing import CliRunner

    from vbsp_risk.cli import app

    return CliRunner().invoke(app, ["features", "--data", str(data), "--out", str(out), *options])
