"""CLI command ``retrain``: the data team's monthly routine (:mod:`training.retrain`).

validate → features → train → gate → (promote) → materialize on the month's export, resumable
and idempotent; the command shows each step and the gate's verdict per view.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from features.catalog import VIEWS
from training import N_BOOT

logger = logging.getLogger(__name__)
console = Console()


def retrain_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (the month's export)."),
    promote: bool = typer.Option(False, "--promote", help="Move the champion if the gate passes."),
    view: list[str] = typer.Option(
        list(VIEWS), "--view", help="Views to train (repeat the option)."
    ),
    n_boot: int = typer.Option(N_BOOT, "--n-boot", min=0, help="Bootstrap replicates."),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """validate → features → train → gate → (promote) → materialize; resumable and idempotent."""
    from training.retrain import STEPS, RetrainError, retrain

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=console) as bar:  # fmt: skip
        task = bar.add_task("retrain", total=len(STEPS))

        def progress(step: str, status: str) -> None:
            if status == "start":
                bar.update(task, description=f"{step} …")
            else:
                bar.console.print(f"  {step}: {status}")
                bar.advance(task)

        try:
            res = retrain(data, promote=promote, views=view, n_boot=n_boot, seed=seed,
                          progress=progress)  # fmt: skip
        except (RetrainError, FileNotFoundError) as err:
            console.print(f"[red]retrain stopped:[/] {err}")
            raise typer.Exit(1) from None
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    for v, d in res.steps["gate"]["decisions"].items():
        console.print(f"[bold]{v}[/]: {d['action']} — champion v{d['champion']} "
                      f"(candidate v{d['candidate']})")  # fmt: skip
        for line in str(d["summary"]).splitlines():
            console.print(f"    {line}")
    console.print(f"state: {res.state_file} (ran {', '.join(res.ran) or 'nothing'}; "
                  f"already done {', '.join(res.skipped) or 'nothing'})")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``retrain`` to the CLI."""
    app.command("retrain")(retrain_cmd)
