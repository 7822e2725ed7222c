"""CLI command ``run``: the main job of ``make run``.

Simulate the default district, validate and summarise it, then build both feature views, train
and gate the first champions, fill the online store, issue demo keys and serve.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.catalog import VIEWS
from vbsp_risk.simulate_cmd import do_simulate
from vbsp_risk.summary_cmd import district_summary, print_summary
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = Console()


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
    for view in VIEWS:
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
    """Add ``run`` to the CLI."""
    app.command("run")(run_cmd)
