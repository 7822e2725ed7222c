"""CLI sub-command ``db``: migrate the service database and show its revision.

The service migrates its database when it starts (``serve --migrate``); this command lets an
operator do it beforehand, or check that a database is at the code's revision.
"""

from __future__ import annotations

import logging

import typer

from vbsp_risk import options
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = options.console()

db_app = typer.Typer(help="The scoring service's database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd() -> None:
    """Migrate the service database ($VBSP_RISK_DATABASE_URL) to the code's revision."""
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import safe_url, upgrade

    engine = make_engine(get_state().db_url)
    try:
        revision = upgrade(engine)
        console.print(
            f"database {safe_url(engine)} at revision [green]{revision}[/]", soft_wrap=True
        )
    finally:
        engine.dispose()


@db_app.command("current")
def current_cmd() -> None:
    """Show the database's revision and the code's (exit 1 when they differ)."""
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import current_revision, head_revision, safe_url

    engine = make_engine(get_state().db_url)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    console.print(
        f"database {safe_url(engine)}: revision {current or 'none'} (code: {head})", soft_wrap=True
    )
    if current != head:
        console.print("[yellow]not up to date[/]: run `vbsp-risk db upgrade`", soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``db`` sub-command to the root CLI."""
    app.add_typer(db_app, name="db")
