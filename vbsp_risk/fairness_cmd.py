"""CLI command ``fairness``: the champion's fairness report on its run's test window.

Training writes the report of each new model; this command recomputes it for the current
champion (e.g. with more bootstrap replicates, or another capacity) without training again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from training import FAIRNESS_N_BOOT
from vbsp_risk import options
from vbsp_state.registry_names import PORTFOLIO_MODEL

logger = logging.getLogger(__name__)
console = options.console()


def fairness_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (protected attributes)."),
    model_name: str = typer.Option(PORTFOLIO_MODEL, "--model-name"),
    out: Path | None = typer.Option(None, "--out", help="Folder for fairness.csv / .md."),
    n_boot: int = typer.Option(FAIRNESS_N_BOOT, "--n-boot", min=0),
    capacity: int = typer.Option(5, "--capacity", min=1),
) -> None:
    """Fairness report of the champion on its run's test window (group-level figures)."""
    import numpy as np

    from training import fairness, monitor, tracking
    from vbsp_state.settings import get_state

    tracking.configure()
    try:
        champ = monitor.load_champion(model_name)
    except ValueError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from None
    window = tracking.load_test_window(champ.run_id)
    frame = window[window[champ.label].notna()].reset_index(drop=True)
    frame = frame.assign(
        label=frame[champ.label].astype("int64"), lightgbm=champ.scorer.predict_proba(frame)
    )
    minority = fairness.read_minority_status(data)
    rows = fairness.fairness_frame(frame, window, minority)
    report = fairness.fairness_report(rows, capacity=capacity, n_boot=n_boot)
    target = out or (get_state().reports_dir / "fairness")
    fairness.write(report, target, capacity, n_boot)
    console.print(fairness.markdown(report, capacity, n_boot))
    console.print(f"files in {target} ({int(np.isfinite(report['value']).sum())} figures)")


def register(app: typer.Typer) -> None:
    """Add ``fairness`` to the CLI."""
    app.command("fairness")(fairness_cmd)
