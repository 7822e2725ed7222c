"""CLI commands ``features`` and ``materialize``."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vbsp_risk.settings import get_state

if TYPE_CHECKING:
    from features.engine import DaskEngine, LocalEngine

logger = logging.getLogger(__name__)
console = Console()


class View(StrEnum):
    """Feature-table views."""

    portfolio = "portfolio"
    application = "application"


class EngineName(StrEnum):
    """Where batch work runs (``features.engine``)."""

    local = "local"
    dask = "dask"


ENGINE_HELP = "local: pandas, commune by commune in this process; dask: communes as Dask tasks."
SCHEDULER_HELP = (
    "With --engine dask: address of a running Dask scheduler (tcp://host:8786), or 'local' "
    "to start a LocalCluster with one worker per core."
)


def open_engine(engine: EngineName, scheduler: str) -> LocalEngine | DaskEngine:
    """The engine asked for (a Dask client is connected or a LocalCluster started)."""
    from features.engine import make_engine

    if engine is EngineName.local:
        return make_engine("local")
    try:
        return make_engine("dask", scheduler)
    except (OSError, TimeoutError, ValueError) as err:
        console.print(f"[red]error[/]: cannot reach the Dask scheduler {scheduler}: {err}")
        raise typer.Exit(2) from None


def _month(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return pd.Period(value, "M").strftime("%Y-%m")
    except ValueError as err:
        raise typer.BadParameter(f"'{value}' is not a month YYYY-MM") from err


def load_valid(data: Path) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """Load a data folder through the contract; print the report and exit 1 when it fails."""
    from features import storage
    from features.validation import ContractViolation, load_tables

    if not data.is_dir():
        console.print(f"[red]error[/]: data folder {data} does not exist")
        raise typer.Exit(2)
    try:
        tables = load_tables(data)
    except ContractViolation as err:
        _report_violation(data, err)
    export = storage.read_manifest(data).get("export_date")
    if export is None:
        dates = tables["interest"]["session_date"]
        export = dates.max().to_period("M").end_time.normalize()
    return tables, pd.Timestamp(export)


def _report_violation(data: Path, err: Exception) -> None:
    """Print and save the validation report of a contract violation, then exit 1."""
    state = get_state()
    state.reports_dir.mkdir(parents=True, exist_ok=True)
    path = state.reports_dir / "validation-report.json"
    err.report.to_json(path)  # type: ignore[attr-defined]
    console.print(f"[red]the data in {data} breaks the data contract[/]; full report: {path}")
    console.print(err.report.frame.head(20).to_string(index=False))  # type: ignore[attr-defined]
    raise typer.Exit(1) from None


def _progress(total: int, label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    transient=True)  # fmt: skip


def features_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (the bank's tables)."),
    view: View = typer.Option(
        View.portfolio, "--view", help="portfolio (month-ends) or application (loans)."
    ),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
    from_: str | None = typer.Option(None, "--from", callback=_month, help="First month YYYY-MM."),
    to: str | None = typer.Option(None, "--to", callback=_month, help="Last month YYYY-MM."),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help=ENGINE_HELP),
    scheduler: str = typer.Option("local", "--scheduler", help=SCHEDULER_HELP),
) -> None:
    """Build a point-in-time feature table (features + labels) for one view."""
    from features import partitions
    from features.build import write_feature_table
    from features.engine import partitioned_pieces, table_pieces
    from features.validation import ContractViolation

    out.parent.mkdir(parents=True, exist_ok=True)
    partitioned = data.is_dir() and partitions.is_partitioned(data)
    if not partitioned:
        tables, export = load_valid(data)
    with open_engine(engine, scheduler) as runner:
        try:
            if partitioned:  # commune by commune: bounded memory
                n = len(partitions.commune_ids(data))
                pieces, export = partitioned_pieces(data, view.value, runner, from_, to)
            else:
                n = len(tables["communes"])
                pieces = table_pieces(tables, view.value, export, runner, from_, to)
            with _progress(n, f"{view.value} features by commune ({engine.value})") as bar:
                task = bar.add_task("f", total=n)
                rows = write_feature_table(pieces, out, progress=lambda _c: bar.advance(task))
        except ContractViolation as err:
            out.unlink(missing_ok=True)
            _report_violation(data, err)
        except ValueError as err:
            out.unlink(missing_ok=True)
            console.print(f"[red]error[/]: {err}")
            raise typer.Exit(1) from None
    console.print(f"[green]{rows:,} rows[/] ({view.value} view, export of {export.date()}) → {out}")
    typer.echo(str(out))


def materialize_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (the bank's tables)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Date YYYY-MM-DD (default: after the last closed month)."
    ),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help=ENGINE_HELP),
    scheduler: str = typer.Option("local", "--scheduler", help=SCHEDULER_HELP),
) -> None:
    """Write every household's latest history features into the service's database."""
    from features import partitions, storage
    from features.db import make_engine
    from features.engine import materialize as materialize_on
    from features.online_store import default_as_of, materialize
    from features.validation import ContractViolation

    url = get_state().db_url
    if engine is EngineName.local:  # the whole folder through the contract, as always
        tables, export = load_valid(data)
        when = pd.Timestamp(as_of) if as_of else default_as_of(export)
        n = materialize(tables, make_engine(url), when)
    else:
        partitioned = data.is_dir() and partitions.is_partitioned(data)
        export_date = storage.read_manifest(data).get("export_date") if partitioned else None
        source: Path | dict[str, pd.DataFrame] = data
        if export_date is None:  # not stored by commune (or no manifest): load it here
            source, export = load_valid(data)
        else:
            export = pd.Timestamp(export_date)
        when = pd.Timestamp(as_of) if as_of else default_as_of(export)
        with open_engine(engine, scheduler) as runner:
            try:
                n = materialize_on(source, make_engine(url), when, runner)
            except ContractViolation as err:
                _report_violation(data, err)
    console.print(
        f"[green]{n:,} rows[/] materialized as of {when.date()} into {url.split('@')[-1]}"
    )


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("features")(features_cmd)
    app.command("materialize")(materialize_cmd)
