"""CLI commands ``monitor``, ``fairness`` and ``retrain`` (the data team's monthly routine)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from training import N_BOOT

logger = logging.getLogger(__name__)
console = Console()


def _portfolio_table(data: Path | None, features: Path | None):
    """The portfolio feature table and export date, from a table file or a data folder."""
    import pandas as pd

    from features import storage

    if features is not None:
        table = pd.read_parquet(features)
        if data is not None:
            export = storage.read_manifest(data)["export_date"]
        else:  # the last snapshot is the day after the export
            export = (pd.to_datetime(table["as_of"]).max() - pd.Timedelta(days=1)).date()
        return table, str(export)
    if data is None:
        raise typer.BadParameter("give --data DIR or --features FILE")
    from features.build import build_feature_table
    from features.validation import load_tables

    export = storage.read_manifest(data)["export_date"]
    return build_feature_table(load_tables(data), "portfolio", export), export


def monitor_cmd(
    data: Path | None = typer.Option(None, "--data", help="Data folder (the month's export)."),
    features: Path | None = typer.Option(
        None, "--features", help="Portfolio feature table instead of --data."
    ),
    model_name: str = typer.Option("overdue-risk-portfolio", "--model-name"),
    out: Path | None = typer.Option(None, "--out", help="Folder for the report's tables."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store alerts in the service's database."
    ),
    log_mlflow: bool = typer.Option(True, "--mlflow/--no-mlflow", help="Log an MLflow run."),
) -> None:
    """Drift (PSI), label maturity, back-test and alerts of the portfolio champion."""
    from training import monitor, tracking
    from vbsp_state.engine import make_engine
    from vbsp_state.settings import get_state

    tracking.configure()
    table, export = _portfolio_table(data, features)
    try:
        report = monitor.monitor_champion(table, export, model_name)
    except ValueError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from None
    worst = report.drift.sort_values("psi", ascending=False).head(12)
    t = Table(title=f"drift of {model_name} v{report.model.get('version')} (district)")
    for col in ("feature", "PSI vs training", "band", "PSI vs preceding"):
        t.add_column(col, justify="left" if col in ("feature", "band") else "right")
    for r in worst.itertuples():
        t.add_row(r.feature, f"{r.psi:.3f}", r.band,
                  "—" if not math.isfinite(r.psi_preceding) else f"{r.psi_preceding:.3f}")  # fmt: skip
    console.print(t)
    console.print(f"windows: {json.dumps(report.windows, default=str)}")
    if report.alerts.empty:
        console.print("[green]no alerts[/]")
    for a in report.alerts.itertuples():
        console.print(f"[yellow]ALERT[/] {a.kind} {a.scope}: {a.message}")
    target = out or (get_state().reports_dir / "monitor")
    report.write(target)
    console.print(f"tables in {target}")
    if log_mlflow:
        console.print(f"MLflow run {monitor.log_report(report)}")
    if record:
        engine = make_engine(get_state().db_url)
        try:
            n = monitor.record_alerts(engine, report)
        finally:
            engine.dispose()
        console.print(f"{n} alert(s) stored as service events")


def fairness_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (protected attributes)."),
    model_name: str = typer.Option("overdue-risk-portfolio", "--model-name"),
    out: Path | None = typer.Option(None, "--out", help="Folder for fairness.csv / .md."),
    n_boot: int = typer.Option(200, "--n-boot", min=0),
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
    frame = frame.assign(label=frame[champ.label].astype("int64"),
                         lightgbm=champ.scorer.predict_proba(frame))  # fmt: skip
    minority = fairness.read_minority_status(data)
    report = fairness.fairness_report(frame, window, minority, capacity=capacity, n_boot=n_boot)
    target = out or (get_state().reports_dir / "fairness")
    fairness.write(report, target, capacity, n_boot)
    console.print(fairness.markdown(report, capacity, n_boot))
    console.print(f"files in {target} ({int(np.isfinite(report['value']).sum())} figures)")


def retrain_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (the month's export)."),
    promote: bool = typer.Option(False, "--promote", help="Move the champion if the gate passes."),
    view: list[str] = typer.Option(
        ["portfolio", "application"], "--view", help="Views to train (repeat the option)."
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
    """Add ``monitor``, ``fairness`` and ``retrain`` to the CLI."""
    app.command("monitor")(monitor_cmd)
    app.command("fairness")(fairness_cmd)
    app.command("retrain")(retrain_cmd)
