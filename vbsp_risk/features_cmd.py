"""CLI commands ``features`` and ``materialize``."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vbsp_risk.settings import get_state

logger = logging.getLogger(__name__)
console = Console()


class View(StrEnum):
    """Feature-table views."""

    portfolio = "portfolio"
    application = "application"


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
) -> None:
    """Build a point-in-time feature table (features + labels) for one view."""
    from features import partitions
    from features.build import iter_feature_table, partitioned_feature_table, write_feature_table
    from features.validation import ContractViolation

    out.parent.mkdir(parents=True, exist_ok=True)
    if data.is_dir() and partitions.is_partitioned(data):  # commune by commune: bounded memory
        n = len(partitions.commune_ids(data))
        pieces, export = partitioned_feature_table(data, view.value, from_, to)
    else:
        tables, export = load_valid(data)
        n = len(tables["communes"])
        pieces = iter_feature_table(tables, view.value, export, from_, to)
    try:
        with _progress(n, f"{view.value} features by commune") as bar:
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
) -> None:
    """Write every household's latest history features into the service's database."""
    from features.db import make_engine
    from features.online_store import default_as_of, materialize

    tables, export = load_valid(data)
    when = pd.Timestamp(as_of) if as_of else default_as_of(export)
    url = get_state().db_url
    n = materialize(tables, make_engine(url), when)
    console.print(
        f"[green]{n:,} rows[/] materialized as of {when.date()} into {url.split('@')[-1]}"
    )


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("features")(features_cmd)
    app.command("materialize")(materialize_cmd)
