"""``vbsp-risk serve``: the scoring API."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

console = Console()
logger = logging.getLogger(__name__)


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the database schema before serving."
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Worker processes."),
) -> None:
    """Serve the scoring API (configuration from the environment; see the README)."""
    import uvicorn

    from features.db import make_engine
    from serving.db.migrate import upgrade
    from serving.settings import ServiceSettings

    settings = ServiceSettings()  # fail fast on bad configuration, before binding the port
    if migrate:
        revision = upgrade(make_engine(settings.db_url))
        console.print(f"database {settings.db_url.split('@')[-1]} at revision {revision}")
    console.print(
        f"serving on http://{host}:{port}  (pages: http://{host}:{port}/ , API docs: http://{host}:{port}/docs; Ctrl-C stops)"
    )
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # request lines carry household ids in paths; metrics count requests
        timeout_graceful_shutdown=20,
    )


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("serve")(serve_cmd)
