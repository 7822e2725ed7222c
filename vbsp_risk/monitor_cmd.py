"""CLI command ``monitor``: drift, label maturity, back-test and alerts of the champion."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import typer
from rich.table import Table

from vbsp_risk import options
from vbsp_state.registry_names import PORTFOLIO_MODEL

logger = logging.getLogger(__name__)
console = options.console()


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
    model_name: str = typer.Option(PORTFOLIO_MODEL, "--model-name"),
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
        t.add_row(
            r.feature,
            f"{r.psi:.3f}",
            r.band,
            "—" if not math.isfinite(r.psi_preceding) else f"{r.psi_preceding:.3f}",
        )
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


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to the CLI."""
    app.command("monitor")(monitor_cmd)
