"""``vbsp-risk score``: batch scores of the portfolio's last months, stored for the service.

The rows are read and scored commune by commune (one row group of the feature table each) on
the engine asked for: ``--engine local`` in this process, ``--engine dask --scheduler
ADDRESS|local`` as Dask tasks (:mod:`serving.batch_score`). The scores are the same on both
engines; by default they go to the service's database, with ``--out`` each worker writes its
commune's scores to ``<out>/part-<commune>.parquet`` instead (a province or the nation).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from vbsp_risk import options
from vbsp_risk.features_cmd import ENGINE_HELP, SCHEDULER_HELP, EngineName, open_engine

console = options.console()
logger = logging.getLogger(__name__)


def score_cmd(
    features: Path = typer.Option(
        ..., "--features", exists=True, help="Portfolio-view feature table (file or folder)."
    ),
    months: int = typer.Option(6, "--months", min=1, max=120, help="Last N snapshot months."),
    data: Path | None = typer.Option(
        None, "--data", help="Data folder with the households table (default: the state's)."
    ),
    engine: Annotated[
        EngineName, typer.Option("--engine", help=ENGINE_HELP, case_sensitive=False)
    ] = EngineName.local,
    scheduler: Annotated[str, typer.Option("--scheduler", help=SCHEDULER_HELP)] = "local",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the scores to <OUT>/part-<commune>.parquet (each worker its communes) "
            "instead of the service's database.",
        ),
    ] = None,
    reasons: Annotated[
        bool, typer.Option("--reasons/--no-reasons", help="Attach each score's top reasons.")
    ] = True,
) -> None:
    """Score the last months of a portfolio feature table with the champion and store the
    scores (history and priorities of the service)."""
    from features.storage import read_raw
    from serving.batch_score import ScoreOptions, score_parquet, write_score_parts
    from serving.model_store import load_registered
    from serving.portfolio import write_scores
    from serving.settings import ServiceSettings
    from training.tracking import tracking_uri
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import upgrade

    settings = ServiceSettings()
    uri = settings.tracking_uri or tracking_uri(settings.state_dir)
    model = load_registered(uri, settings.portfolio_model, settings.model_alias)
    households = read_raw(data or settings.state_dir / "data" / "district", "households")
    label = f"{model.name} v{model.version} ({engine.value})"
    options = ScoreOptions(months, households, explain=reasons)
    with open_engine(engine, scheduler) as runner:
        try:
            if out is not None:
                with console.status(f"scoring the last {months} months with {label}…"):
                    parts = write_score_parts(model, features, out, runner, options)
                n = sum(p.rows for p in parts)
                console.print(
                    f"[green]{n:,}[/] portfolio scores ({months} months) → "
                    f"{len(parts)} files in {out}"
                )
                return
            with console.status(f"scoring the last {months} months with {label}…"):
                scores = score_parquet(model, features, runner, options)
        except (FileNotFoundError, ValueError) as err:
            console.print(f"[red]error[/]: {err}", soft_wrap=True)
            raise typer.Exit(1) from None
    db = make_engine(settings.db_url)
    upgrade(db)
    n = write_scores(db, scores)
    console.print(f"[green]{n:,}[/] portfolio scores ({months} months) → {settings.db_url}")


def register(app: typer.Typer) -> None:
    """Attach the command to the root CLI."""
    app.command("score")(score_cmd)
