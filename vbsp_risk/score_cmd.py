"""``vbsp-risk score``: batch scores of the portfolio's last months, stored for the service."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

console = Console()
logger = logging.getLogger(__name__)


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
    """Attach the command to the root CLI."""
    app.command("score")(score_cmd)
