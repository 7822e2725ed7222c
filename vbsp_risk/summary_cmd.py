"""CLI command ``summary``: a district's figures beside the Dakrong targets.

``run`` prints the same table after simulating, so a reader sees at once whether the simulated
district looks like the real one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from vbsp_risk import options

logger = logging.getLogger(__name__)
console = options.console()

# Targets of the Dakrong district (shared/DOMAIN.md) shown beside the summary.
TARGETS = {
    "communes": "13",
    "villages": "78",
    "groups": "184",
    "borrower_households": "> 8,500",
    "outstanding_vnd": "> 597 bn",
    "outstanding_cagr": "12–15 %/year",
    "overdue_ratio": "0.04 %",
    "interest_collection_12m": "99–100 %",
    "groups_good_share": "85–96 %",
}


def print_summary(summary: dict) -> None:
    """Render the district summary as a table beside the Dakrong targets."""
    table = Table(title=f"District at {summary['export_date']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("Dakrong target", justify="right")
    fmt = {
        "outstanding_vnd": lambda v: f"{v / 1e9:,.1f} bn VND",
        "outstanding_per_borrower_vnd": lambda v: f"{v / 1e6:,.1f} m VND",
        "overdue_vnd": lambda v: f"{v / 1e6:,.1f} m VND",
        "overdue_ratio": lambda v: f"{v:.3%}",
        "outstanding_cagr": lambda v: f"{v:.1%}",
        "outstanding_growth_last_year": lambda v: f"{v:.1%}",
        "interest_collection_12m": lambda v: f"{v:.2%}",
        "groups_good_share": lambda v: f"{v:.1%}",
        "groups_weak_share": lambda v: f"{v:.1%}",
    }
    for key, value in summary.items():
        if isinstance(value, dict) or key == "export_date":
            continue
        text = fmt.get(key, lambda v: f"{v:,}" if isinstance(v, int | float) else str(v))(value)
        table.add_row(key, text, TARGETS.get(key, ""))
    console.print(table)
    console.print(
        "group ratings: " + ", ".join(f"{k} {v:.1%}" for k, v in summary["group_ratings"].items())
    )
    console.print(
        "program share of outstanding: "
        + ", ".join(f"{k} {v:.0%}" for k, v in summary["program_share_of_outstanding"].items())
    )


def district_summary(data_dir: Path) -> dict:
    """Load a validated data folder and summarise it."""
    from features import storage
    from features.summary import summarize
    from features.validation import load_tables

    names = [
        "communes",
        "villages",
        "groups",
        "households",
        "loans",
        "installments",
        "interest",
        "debt_events",
        "group_ratings",
    ]
    tables = load_tables(data_dir, tables=names)
    export = (
        storage.read_manifest(data_dir).get("export_date")
        or pd.Timestamp.today().date().isoformat()
    )
    return summarize(tables, pd.Timestamp(export))


def summary_cmd(data: Path = typer.Argument(..., help="Data folder.")) -> None:
    """Print the district summary (counts, outstanding, overdue ratio, group ratings)."""
    summary = district_summary(data)
    print_summary(summary)


def register(app: typer.Typer) -> None:
    """Add ``summary`` to the CLI."""
    app.command("summary")(summary_cmd)
