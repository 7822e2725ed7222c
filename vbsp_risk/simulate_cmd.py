"""CLI commands ``simulate``, ``summary`` and ``run`` (the main job of ``make run``)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = Console()
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

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


def _month(value: str | None) -> str | None:
    if value is not None and not MONTH.match(value):
        raise typer.BadParameter(f"'{value}' is not a month YYYY-MM")
    return value


def do_simulate(out: Path, households: int, seed: int, start: str, end: str) -> dict:
    """Simulate a district with a progress bar over communes; return the manifest."""
    from features.simulator import SimConfig, simulate
    from features.simulator.structure import build_structure

    cfg = SimConfig(households=households, seed=seed, start=start, end=end)
    n_communes = len(build_structure(cfg)["communes"])
    with Progress(
        TextColumn("simulating communes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("sim", total=n_communes)
        manifest = simulate(out, cfg, progress=lambda _cid: bar.advance(task))
    console.print(f"[green]simulated[/] {households:,} target borrower households → {out}")
    return manifest


def simulate_cmd(
    out: Path = typer.Option(
        None, "--out", help="Data folder to write (default: $VBSP_RISK_STATE_DIR/data/district)."
    ),
    households: int = typer.Option(
        8_500, "--households", min=50, max=10_000_000, help="Borrower households at the end date."
    ),
    seed: int = typer.Option(
        20251231, "--seed", help="Random seed; same seed ⇒ byte-identical files."
    ),
    start: str = typer.Option("2016-01", "--start", callback=_month, help="First month, YYYY-MM."),
    end: str = typer.Option(
        "2025-12",
        "--end",
        callback=_month,
        help="Last month, YYYY-MM (export date = its last day).",
    ),
) -> None:
    """Simulate a district calibrated to Dakrong (bank tables + truth/)."""
    if pd.Period(start, "M") + 11 > pd.Period(end, "M"):
        raise typer.BadParameter("--start must be at least 12 months before --end")
    out = out or get_state().data_dir
    do_simulate(out, households, seed, start, end)
    typer.echo(str(out))


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

    names = ["communes", "villages", "groups", "households", "loans", "installments", "interest",
             "debt_events", "group_ratings"]  # fmt: skip
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


def run_cmd(
    households: int = typer.Option(
        8_500, "--households", min=50, help="Borrower households to simulate."
    ),
    seed: int = typer.Option(20251231, "--seed", help="Random seed."),
    train: bool = typer.Option(
        True, "--train/--no-train", help="Also build features, train, gate, materialize."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="End by serving the API (after training)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port of the API."),
) -> None:
    """The main job: simulate the default district, validate it, summarise it, then build both
    feature views, train and gate the first champions (MLflow), and fill the online store."""
    from features.validation import validate_dir

    state = get_state()
    data = state.data_dir
    do_simulate(data, households, seed, "2016-01", "2025-12")
    report = validate_dir(data)
    state.reports_dir.mkdir(parents=True, exist_ok=True)
    report.to_json(state.reports_dir / "validation-report.json")
    if not report.ok:
        console.print(
            f"[red]validation failed[/]: see {state.reports_dir / 'validation-report.json'}"
        )
        raise typer.Exit(1)
    console.print(f"[green]validation passed[/] ({data})")
    summary = district_summary(data)
    (state.reports_dir / "district-summary.json").write_text(
        json.dumps(summary, indent=2, default=str)
    )
    print_summary(summary)
    if train:
        _train_stage(data, state.state_dir / "features", seed=42)
        _serve_stage(state.state_dir, seed, port, serve)


def _train_stage(data: Path, features_dir: Path, seed: int) -> None:
    """Features for both views → training and the champion gate → online store."""
    from features import partitions
    from features.build import partitioned_feature_table, write_feature_table
    from features.online_store import default_as_of, materialize
    from features.validation import load_tables
    from training.pipeline import train_and_promote
    from vbsp_risk.train_cmd import metrics_table, print_decision
    from vbsp_state.engine import make_engine

    features_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for view in ("portfolio", "application"):
        paths[view] = features_dir / f"{view}.parquet"
        n = len(partitions.commune_ids(data))
        with Progress(TextColumn(f"{view} features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:  # fmt: skip
            task = bar.add_task(view, total=n)
            pieces, export = partitioned_feature_table(data, view)
            rows = write_feature_table(
                pieces, paths[view], progress=lambda _c, t=task: bar.advance(t)
            )
        console.print(f"[green]{rows:,}[/] {view} rows → {paths[view]}")
    with console.status("training both views (LightGBM + calibration + challenger + evaluation)…"):
        results = train_and_promote(paths, truth_dir=data / "truth", seed=seed)
    for view, res in results.items():
        console.print(
            metrics_table(
                res["metrics"], title=f"{view} view — test window (model vs practice vs oracle)"
            )
        )
        print_decision(res["decision"])
    url = get_state().db_url
    n = materialize(load_tables(data), make_engine(url), default_as_of(export))
    console.print(
        f"[green]{n:,}[/] households and groups materialized into the online store ({url})"
    )


DEMO_ROLES = ("officer", "inspector", "data", "admin")


def _serve_stage(state_dir: Path, seed: int, port: int, serve: bool) -> None:
    """Score the portfolio's last months, issue demo keys, then serve the API."""

    from pydantic import SecretStr

    from features.simulator import pii_key
    from serving.auth import add_client
    from serving.settings import ServiceSettings
    from vbsp_risk.score_cmd import score_cmd
    from vbsp_risk.serve_cmd import serve

    score_cmd(features=state_dir / "features" / "portfolio.parquet", months=6, data=None)
    keys_file = state_dir / "api_keys.json"
    keys_file.unlink(missing_ok=True)  # demo keys are new on every run
    first = sorted(
        p.stem.removeprefix("part-")
        for p in (state_dir / "data" / "district" / "loans").glob("part-*.parquet")
    )[:1]
    keys = {
        role: add_client(
            keys_file, f"demo-{role}", role, first if role in ("officer", "inspector") else None
        )
        for role in DEMO_ROLES
    }
    table = Table(title="demo API keys (shown once; only their hashes are stored)")
    table.add_column("role")
    table.add_column("communes")
    table.add_column("X-API-Key")
    for role, key in keys.items():
        table.add_row(role, ", ".join(first) if role in ("officer", "inspector") else "all", key)
    console.print(table)
    if serve:
        settings = ServiceSettings()
        if (
            settings.pii_key is None
        ):  # the simulator's key: national-ID lookups work on its district
            settings = settings.model_copy(update={"pii_key": SecretStr(pii_key(seed).hex())})
        serve(settings, host="127.0.0.1", port=port, migrate=True, workers=1)


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("simulate")(simulate_cmd)
    app.command("summary")(summary_cmd)
    app.command("run")(run_cmd)
