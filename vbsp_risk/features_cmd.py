"""CLI commands ``features`` and ``materialize``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vbsp_risk import options
from vbsp_risk.options import EngineName, View, month_option
from vbsp_state.settings import get_state

if TYPE_CHECKING:
    from features.engine import DaskEngine, LocalEngine

logger = logging.getLogger(__name__)
console = options.console()
MAX_SHOWN = 20
Piece = tuple[str, pd.DataFrame | None]


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


def _report_violation(data: Path, err: Exception, by_commune: bool = False) -> None:
    """Print and save the validation report of a contract violation, then exit 1.

    Each failure shown names its table, file or row key, column and rule. ``by_commune``: the
    report is the first failing commune's (the job stops there; ``validate`` lists them all).
    """
    report = err.report  # type: ignore[attr-defined]
    report.data_dir = data  # a commune's report was made in a temporary view of the folder
    state = get_state()
    state.reports_dir.mkdir(parents=True, exist_ok=True)
    path = report.to_json(state.reports_dir / "validation-report.json")
    console.print(
        f"[red]the data in {data} breaks the data contract[/] ({len(report.frame):,} "
        f"failure(s){' in the first failing commune' if by_commune else ''}; nothing "
        f"written); full report: {path}",
        soft_wrap=True,
    )
    for r in report.frame.head(MAX_SHOWN).itertuples(index=False):
        where = "".join(f" {w}" for w in (r.key or r.value, r.column and f"column {r.column}") if w)
        line = f"- {r.table} ({r.rule}){where}: {r.message}"
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if len(report.frame) > MAX_SHOWN or by_commune:
        console.print(f"every failure: vbsp-risk validate {data}", soft_wrap=True)
    raise typer.Exit(1) from None


def _tracked(pieces: Iterator[Piece], produced: list[str]) -> Iterator[Piece]:
    """The pieces, noting the communes that have rows."""
    for cid, piece in pieces:
        if piece is not None and len(piece):
            produced.append(cid)
        yield cid, piece


def _note_empty_communes(communes: pd.Series, produced: list[str], view: str) -> None:
    """Say which communes of the ``communes`` table got no feature rows (not an error)."""
    without = sorted(set(communes.astype(str)) - set(produced))
    if without:
        msg = (
            f"{len(without)} commune(s) have no {view} rows (no households or loans in the "
            f"months asked for): {', '.join(without)}"
        )
        logger.warning(msg)
        console.print(f"[yellow]note[/]: {msg}", soft_wrap=True)


def _progress(total: int, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def features_cmd(
    data: Path = typer.Option(..., "--data", help="Data folder (the bank's tables)."),
    view: View = typer.Option(
        View.portfolio, "--view", help="portfolio (month-ends) or application (loans)."
    ),
    out: Path = typer.Option(..., "--out", help="Parquet file to write."),
    from_: str | None = typer.Option(
        None, "--from", callback=month_option, help="First month YYYY-MM."
    ),
    to: str | None = typer.Option(None, "--to", callback=month_option, help="Last month YYYY-MM."),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help=ENGINE_HELP),
    scheduler: str = typer.Option("local", "--scheduler", help=SCHEDULER_HELP),
) -> None:
    """Build a point-in-time feature table (features + labels) for one view."""
    from features import partitions, storage
    from features.build import FeatureWindow, write_feature_table
    from features.engine import partitioned_pieces, table_pieces
    from features.validation import ContractViolation, check_files

    out.parent.mkdir(parents=True, exist_ok=True)
    partitioned = data.is_dir() and partitions.is_partitioned(data)
    if partitioned:  # damaged files are found from their footers before streaming
        found = check_files(data)
        if not found.ok:
            _report_violation(data, ContractViolation(found))
        try:
            communes = storage.read_raw(data, "communes")["commune_id"]
        except storage.UnreadableFileError as err:  # damaged inside, past its footer
            console.print(f"[red]error[/]: {escape(str(err))}", soft_wrap=True)
            raise typer.Exit(1) from None
    else:
        tables, export = load_valid(data)
        communes = tables["communes"]["commune_id"]
        if from_ is None and tables["interest"].empty:
            console.print(
                "[red]error[/]: interest has no rows, so the first month is unknown; "
                "give it with --from YYYY-MM",
                soft_wrap=True,
            )
            raise typer.Exit(1)
    produced: list[str] = []
    window = FeatureWindow(from_, to)
    with open_engine(engine, scheduler) as runner:
        try:
            if partitioned:  # commune by commune: bounded memory
                n = len(partitions.commune_ids(data))
                pieces, export = partitioned_pieces(data, view.value, runner, window)
            else:
                n = len(tables["communes"])
                pieces = table_pieces(tables, view.value, export, runner, window)
            with _progress(n, f"{view.value} features by commune ({engine.value})") as bar:
                task = bar.add_task("f", total=n)
                rows = write_feature_table(
                    _tracked(pieces, produced), out, progress=lambda _c: bar.advance(task)
                )
        except ContractViolation as err:
            out.unlink(missing_ok=True)
            _report_violation(data, err, by_commune=partitioned)
        except ValueError as err:
            out.unlink(missing_ok=True)
            console.print(f"[red]error[/]: {escape(str(err))}", soft_wrap=True)
            raise typer.Exit(1) from None
    _note_empty_communes(communes, produced, view.value)
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
    from features.engine import materialize as materialize_on
    from features.online_store import default_as_of, materialize
    from features.validation import ContractViolation, check_files
    from vbsp_state.engine import make_engine

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
            found = check_files(data)  # damaged Parquet files, from their footers
            if not found.ok:
                _report_violation(data, ContractViolation(found))
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
