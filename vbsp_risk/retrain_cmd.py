"""CLI command ``retrain``: the data team's monthly routine (:mod:`training.retrain`).

validate → features → train → gate → (promote) → materialize on the month's export, resumable
and idempotent; the command shows each step, the test-window metrics and the gate's verdict per
view. ``vbsp-risk run`` runs the same routine (:func:`run_routine`) on the district it simulates.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from features.catalog import VIEWS
from training import N_BOOT
from vbsp_risk import options

if TYPE_CHECKING:
    from training.retrain import RetrainResult

logger = logging.getLogger(__name__)
console = options.console()


def run_routine(data: Path, *, promote: bool, **options: Any) -> RetrainResult:
    """:func:`training.retrain.retrain` with a progress line per step; exit 1 with the reason
    when the export cannot be used.

    Args:
        data: The export.
        promote: Move the champion when the gate passes.
        **options: Further keyword arguments of ``retrain`` (``on_step`` is called after each
            step with ``(step, status)``, e.g. to print the district summary once validated).
    """
    from training.retrain import STEPS, RetrainError, retrain

    on_step = options.pop("on_step", None)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("retrain", total=len(STEPS))

        def progress(step: str, status: str) -> None:
            if status == "start":
                bar.update(task, description=f"{step} …")
                return
            bar.console.print(f"  {step}: {status}")
            bar.advance(task)
            if on_step is not None:
                on_step(step, status)

        try:
            return retrain(data, promote=promote, progress=progress, **options)
        except (RetrainError, FileNotFoundError) as err:
            console.print(f"[red]retrain stopped:[/] {err}")
            raise typer.Exit(1) from None


def print_result(res: RetrainResult) -> None:
    """Notes, each view's test-window metrics and the gate's verdict, and where the state is."""
    from vbsp_risk.train_cmd import metrics_table

    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    models = res.steps["train"]["models"]
    for v, d in res.steps["gate"]["decisions"].items():
        metrics = models.get(v, {}).get("metrics")
        if metrics:
            title = f"{v} view — test window (model vs practice vs oracle)"
            console.print(metrics_table(metrics, title=title))
        console.print(
            f"[bold]{v}[/]: {d['action']} — champion v{d['champion']} (candidate v{d['candidate']})"
        )
        for line in str(d["summary"]).splitlines():
            console.print(f"    {line}")
    console.print(
        f"state: {res.state_file} (ran {', '.join(res.ran) or 'nothing'}; "
        f"already done {', '.join(res.skipped) or 'nothing'})"
    )


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
    print_result(run_routine(data, promote=promote, views=view, n_boot=n_boot, seed=seed))


def register(app: typer.Typer) -> None:
    """Add ``retrain`` to the CLI."""
    app.command("retrain")(retrain_cmd)
