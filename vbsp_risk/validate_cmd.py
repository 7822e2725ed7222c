"""CLI command ``validate``: check a data folder against the data contract."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vbsp_risk import options
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = options.console()
err_console = Console(stderr=True)
MAX_LINES = 50
REPORT_NAME = "validation-report.json"


def _iso_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date YYYY-MM-DD") from None
    if len(value) != 10:
        raise typer.BadParameter(f"'{value}' is not a date YYYY-MM-DD")
    return value


def _short(text: object, width: int = 40) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def _print_report(report: object) -> None:
    """Counts by table and rule, then the first failures."""
    frame = report.frame
    if report.ok:
        rows = sum(report.row_counts.values())
        console.print(
            f"[green]valid[/]: {len(report.row_counts)} tables, {rows:,} rows, "
            f"reference date {report.reference_date:%Y-%m-%d}"
        )
        return
    summary = Table(title=f"{len(frame):,} failure(s) in {report.data_dir}")
    for col in ("table", "rule", "count"):
        summary.add_column(col, justify="right" if col == "count" else "left")
    for r in report.summary().itertuples(index=False):
        summary.add_row(r.table, r.rule, f"{r.count:,}")
    console.print(summary)
    # a few failures of every (table, rule) before more of the same, in report order
    per_group = max(1, MAX_LINES // len(report.summary()))
    shown = frame.groupby(["table", "rule"], sort=False).head(per_group).head(MAX_LINES)
    lines = Table(title=f"{len(shown)} of {len(frame):,} failures (all are in the report)")
    for col in ("table", "row / file", "column", "rule", "message"):
        lines.add_column(col, overflow="fold")
    for r in shown.itertuples(index=False):
        where = _short(r.key or r.value)  # the row's key, else the file (and line)
        lines.add_row(r.table, where, _short(r.column), r.rule, _short(r.message, 160))
    console.print(lines)
    if report.quarantined:
        counts = ", ".join(f"{t}: {n:,}" for t, n in report.quarantined.items())
        console.print(f"[yellow]quarantined rows[/]: {counts}")


def validate_cmd(
    data_dir: Path = typer.Argument(..., help="Data folder (CSV, Parquet or Parquet parts)."),
    report_path: Path = typer.Option(
        None,
        "--report",
        help=(
            f"Where to write the JSON report with every failure (default: "
            f"$VBSP_RISK_STATE_DIR/reports/{REPORT_NAME}, i.e. ./state/reports/{REPORT_NAME})."
        ),
    ),
    reference_date: str = typer.Option(
        None,
        "--reference-date",
        callback=_iso_date,
        help="Dates after it are future_date failures, YYYY-MM-DD "
        "(default: manifest.json's export_date, else today).",
    ),
    quarantine: Path = typer.Option(
        None,
        "--quarantine",
        help="Also load the tables and write the failing rows (and the rows that depend on "
        "them) to <DIR>/<table>.csv.",
    ),
) -> None:
    """Check a data folder against the data contract (exit 0 clean, 1 failures, 2 no folder)."""
    from features.validation import ContractViolation, load_with_report, validate_dir

    if not data_dir.is_dir():
        err_console.print(f"[red]error[/]: data folder {data_dir} does not exist", soft_wrap=True)
        raise typer.Exit(2)
    if quarantine is None:
        report = validate_dir(data_dir, reference_date=reference_date)
    else:
        try:
            _, report = load_with_report(
                data_dir, quarantine_dir=quarantine, reference_date=reference_date
            )
        except ContractViolation as err:
            report = err.report
            err_console.print(f"[red]cannot quarantine[/]: {err}", soft_wrap=True)
    _print_report(report)
    path = report.to_json(report_path or get_state().reports_dir / REPORT_NAME)
    console.print(f"report → {path}")
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the CLI."""
    app.command("validate")(validate_cmd)
