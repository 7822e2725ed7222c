"""CLI command ``simulate``: a district calibrated to Dakrong (bank tables and ``truth/``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.simulator.config import (
    DEFAULT_END,
    DEFAULT_HOUSEHOLDS,
    DEFAULT_SEED,
    DEFAULT_START,
)
from vbsp_risk import options
from vbsp_risk.options import month_option
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = options.console()


def do_simulate(out: Path, households: int, seed: int, start: str, end: str) -> dict:
    """Simulate a district with a progress bar over communes; return the manifest."""
    from features.simulator import SimConfig, simulate
    from features.simulator.structure import build_structure

    cfg = SimConfig(households=households, seed=seed, start=start, end=end)
    n_communes = len(build_structure(cfg)["communes"])
    with Progress(
        TextColumn("simulating communes"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=n_communes)
        manifest = simulate(out, cfg, progress=lambda _cid: bar.advance(task))
    console.print(f"[green]simulated[/] {households:,} target borrower households → {out}")
    return manifest


def simulate_cmd(
    out: Path = typer.Option(
        None, "--out", help="Data folder to write (default: $VBSP_RISK_STATE_DIR/data/district)."
    ),
    households: int = typer.Option(
        DEFAULT_HOUSEHOLDS,
        "--households",
        min=50,
        max=10_000_000,
        help="Borrower households at the end date.",
    ),
    seed: int = typer.Option(
        DEFAULT_SEED, "--seed", help="Random seed; same seed ⇒ byte-identical files."
    ),
    start: str = typer.Option(
        DEFAULT_START, "--start", callback=month_option, help="First month, YYYY-MM."
    ),
    end: str = typer.Option(
        DEFAULT_END,
        "--end",
        callback=month_option,
        help="Last month, YYYY-MM (export date = its last day).",
    ),
) -> None:
    """Simulate a district calibrated to Dakrong (bank tables + truth/)."""
    if pd.Period(start, "M") + 11 > pd.Period(end, "M"):
        raise typer.BadParameter("--start must be at least 12 months before --end")
    out = out or get_state().data_dir
    do_simulate(out, households, seed, start, end)
    typer.echo(str(out))


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the CLI."""
    app.command("simulate")(simulate_cmd)
