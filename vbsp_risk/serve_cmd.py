"""``vbsp-risk serve`` and ``vbsp-risk score``: the API, and batch portfolio scoring."""

from __future__ import annotations

import logging
from pathlib import Path

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


def score_cmd(
    features: Path = typer.Option(
        ..., "--features", exists=True, help="Portfolio-view feature table (file or folder)."
    ),
    months: int = typer.Option(6, "--months", min=1, max=120, help="Last N snapshot months."),
    data: Path | None = typer.Option(
        None, "--data", help="Data folder with the households table (default: the state's)."
    ),
) -> None:
    """Score the last months of a portfolio feature table with the champion and store the
    scores (history and priorities of the service)."""
    import pandas as pd

    from features.db import make_engine
    from features.storage import read_raw
    from serving.db.migrate import upgrade
    from serving.model_store import load_registered
    from serving.portfolio import feature_table_months, score_frame, write_scores
    from serving.settings import ServiceSettings
    from training.tracking import tracking_uri

    settings = ServiceSettings()
    uri = settings.tracking_uri or tracking_uri(settings.state_dir)
    model = load_registered(uri, settings.portfolio_model, settings.model_alias)
    households = read_raw(data or settings.state_dir / "data" / "district", "households")
    frame = feature_table_months(pd.read_parquet(features), months, households)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    with console.status(f"scoring {len(frame):,} rows with {model.name} v{model.version}…"):
        n = write_scores(engine, score_frame(model, frame))
    console.print(f"[green]{n:,}[/] portfolio scores ({months} months) → {settings.db_url}")


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("serve")(serve_cmd)
    app.command("score")(score_cmd)
