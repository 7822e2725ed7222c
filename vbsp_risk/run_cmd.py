"""CLI command ``run``: the main job of ``make run``.

Simulate the default district, then the data team's monthly routine on it with ``--promote``
(the same code as ``vbsp-risk retrain --promote``: validate, both feature views streamed commune
by commune, train, the champion gate, the online store; the summary is printed once the district
is validated), then score the portfolio's last months, issue demo keys and serve.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.table import Table

from features.simulator.config import (
    DEFAULT_END,
    DEFAULT_HOUSEHOLDS,
    DEFAULT_SEED,
    DEFAULT_START,
)
from vbsp_risk import options
from vbsp_risk.options import month_option
from vbsp_risk.retrain_cmd import print_result, run_routine
from vbsp_risk.simulate_cmd import do_simulate
from vbsp_risk.summary_cmd import district_summary, print_summary
from vbsp_state.registry_names import model_name
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = options.console()


def run_cmd(
    households: int = typer.Option(
        DEFAULT_HOUSEHOLDS, "--households", min=50, help="Borrower households to simulate."
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Random seed."),
    start: str = typer.Option(
        DEFAULT_START,
        "--start",
        callback=month_option,
        help="First simulated month, YYYY-MM. The default gives the loan book five years to "
        "mature before 2016 (docs/simulator.md, a mature book); the Dakrong targets are "
        "calibrated for it.",
    ),
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
    state = get_state()
    data = state.data_dir
    do_simulate(data, households, seed, start, DEFAULT_END)
    if not train:
        _validate(data)
        _summarise(data)
        return
    res = run_routine(
        data,
        promote=True,
        seed=TRAINING_SEED,
        features_dir=state.state_dir / "features",
        reason="make run: first champions of the simulated district",
        on_step=lambda step, _status: _summarise(data) if step == "validate" else None,
    )
    print_result(res)
    console.print(
        f"[green]{res.steps['materialize']['rows']:,}[/] households and groups "
        f"materialized into the online store ({state.db_url})"
    )
    portfolio = Path(res.steps["features"]["files"]["portfolio"])
    champion = res.steps["gate"]["decisions"].get("portfolio", {}).get("champion")
    _serve_stage(state.state_dir, portfolio if champion else None, seed, port, serve)


TRAINING_SEED = 42
"""Seed of the split, the models and the bootstrap (the district's seed is ``--seed``)."""


def _validate(data: Path) -> None:
    """Validate the district; write the report; exit 1 when it fails (``--no-train``; with
    training, the monthly routine's first step does the same)."""
    from features.validation import validate_dir
    from training.retrain import VALIDATION_REPORT

    path = get_state().reports_dir / VALIDATION_REPORT
    report = validate_dir(data)
    report.to_json(path)
    if not report.ok:
        console.print(f"[red]validation failed[/]: see {path}")
        raise typer.Exit(1)


def _summarise(data: Path) -> None:
    """The validated district's summary: printed beside the targets and written as JSON."""
    reports = get_state().reports_dir
    console.print(f"[green]validation passed[/] ({data})")
    summary = district_summary(data)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "district-summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)


DEMO_ROLES = ("officer", "inspector", "data", "admin")


NO_CHAMPION = (
    "[yellow]no portfolio champion[/]: the gate refused the candidate (its checks are above), so "
    "the portfolio is not scored; the service starts without a model and answers 503 on /readyz "
    f"until one is promoted (vbsp-risk promote --model-name {model_name('portfolio')}; "
    "--force overrides the gate, recorded)"
)


def _serve_stage(
    state_dir: Path, portfolio: Path | None, seed: int, port: int, serve: bool
) -> None:
    """Score the portfolio's last months (``portfolio`` ``None``: no champion to score with,
    said so), issue demo keys, then serve the API."""

    from pydantic import SecretStr

    from features.simulator import pii_key
    from serving.auth import add_client
    from serving.settings import ServiceSettings
    from vbsp_risk.score_cmd import score_cmd
    from vbsp_risk.serve_cmd import serve as serve_api

    if portfolio is None:
        console.print(NO_CHAMPION)
    else:
        score_cmd(features=portfolio, months=6, data=None)
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
        serve_api(settings, host="127.0.0.1", port=port, migrate=True, workers=1)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the CLI."""
    app.command("run")(run_cmd)
