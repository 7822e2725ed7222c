"""CLI commands ``train`` and ``promote`` (training/, MLflow, champion gate)."""

from __future__ import annotations

import logging
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from training import N_BOOT
from training.monotone import TOLERANCE
from vbsp_risk import options
from vbsp_risk.options import EngineName, View

logger = logging.getLogger(__name__)
console = options.console()

SHOWN = ("roc_auc", "pr_auc", "capture_top10", "capture_at_capacity", "calibration_slope")
HEADERS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "capture_top10": "capture top 10%",
    "capture_at_capacity": "capture @ capacity",
    "calibration_slope": "calib. slope",
}


class Monotone(StrEnum):
    """Which catalog monotone constraints the booster is held to (training/monotone.py)."""

    catalog = "catalog"
    auto = "auto"
    off = "off"


def _cell(m: dict[str, float], key: str) -> str:
    v = m.get(key, math.nan)
    if v is None or not math.isfinite(v):
        return "—"
    lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        return f"{v:.3f} ({lo:.2f}–{hi:.2f})"
    return f"{v:.3f}"


def metrics_table(metrics: dict[str, dict[str, float]], title: str = "test window") -> Table:
    """Model vs challenger vs practice rankings vs random vs the state and clairvoyant oracles,
    with 95 % bootstrap intervals and the model's paired gap to each oracle (rows from
    :func:`training.report.ranking_rows`, shared with the model card)."""
    from training.report import ranking_rows

    table = Table(title=title, caption="value (95% bootstrap interval)")
    table.add_column("ranking", no_wrap=True)
    for key in SHOWN:
        table.add_column(HEADERS[key], justify="right")
    for name, cells, style in ranking_rows(metrics, _cell, SHOWN):
        table.add_row(name, *cells, style=style)
    return table


def print_decision(decision: Any) -> None:
    """The gate's decision, one line per check."""
    colour = {"promoted": "green", "refused": "red"}.get(decision.action, "yellow")
    forced = " (forced)" if decision.forced else ""
    console.print(
        f"champion gate: [{colour}]{decision.action}{forced}[/] — {decision.model_name} "
        f"v{decision.candidate_version}; champion {decision.from_version or 'none'} → "
        f"{decision.to_version or 'none'}"
    )
    for line in decision.summary.splitlines():
        style = "green" if line.startswith("PASS") else "red" if line.startswith("FAIL") else ""
        console.print(f"  [{style}]{line}[/]" if style else f"  {line}")


def train_cmd(
    features: Path = typer.Option(..., "--features", help="Parquet feature table (contract)."),
    label: str = typer.Option("trouble_12m", "--label", help="Label column."),
    view: View = typer.Option(View.portfolio, "--view", help="portfolio or application."),
    model_name: str | None = typer.Option(
        None,
        "--model-name",
        help="Registered model (default: overdue-risk-<view> for a table with exactly the "
        "catalog's features, else the file's name without extension, so runs of different data "
        "are not versions of one model).",
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of split, models and bootstrap."),
    truth: Path | None = typer.Option(
        None, "--truth", help="Simulator truth/ folder (adds the oracle)."
    ),
    promote: bool = typer.Option(False, "--promote", help="Run the champion gate at the end."),
    capacity: int = typer.Option(5, "--capacity", min=1, help="Visits per commune per month."),
    n_boot: int = typer.Option(N_BOOT, "--n-boot", min=0, help="Bootstrap replicates."),
    pool_features: Path | None = typer.Option(
        None,
        "--pool-features",
        help="Application view: portfolio feature table whose monthly history is pooled into "
        "the training window (as make run does).",
    ),
    engine: EngineName = typer.Option(
        EngineName.local,
        "--engine",
        help="local: LightGBM in this process; dask: boosters fitted by lightgbm.dask on a "
        "Dask cluster (same parameters; an ordinary LightGBM model is registered).",
    ),
    scheduler: str = typer.Option(
        "local",
        "--scheduler",
        help="With --engine dask: address of a running Dask scheduler (tcp://host:8786), or "
        "'local' to start a LocalCluster with one worker per core.",
    ),
    monotone: Monotone = typer.Option(
        Monotone.auto,
        "--monotone",
        help="catalog: every catalog direction is a constraint; off: none; auto: each group is "
        "kept only if dropping it gains less than --monotone-tolerance validation ROC AUC "
        "(costs in the model card and MLflow).",
    ),
    monotone_tolerance: float = typer.Option(
        TOLERANCE, "--monotone-tolerance", min=0.0, help="AUC a kept constraint group may cost."
    ),
    train_months: int | None = typer.Option(
        None,
        "--train-months",
        min=1,
        help="Train on the latest N snapshot months of the training window only (default: "
        "all; validation, calibration and test windows are untouched). For a province's ten "
        "years: see docs/scale.md.",
    ),
) -> None:
    """Train a model on a feature table, log it to MLflow and register it."""
    from features.feature_table import FeatureTableError
    from training.pipeline import run_training

    train = run_training
    if engine is EngineName.dask:
        from functools import partial

        from training.dask_train import run_training_dask

        train = partial(run_training_dask, scheduler=scheduler)
    with console.status(f"training {view.value} on {features.name} ({engine.value}) …"):
        try:
            out = train(
                features,
                label,
                view=view.value,
                model_name=model_name,
                seed=seed,
                promote=promote,
                truth_dir=truth,
                capacity=capacity,
                n_boot=n_boot,
                pool_features=pool_features,
                train_months=train_months,
                monotone=monotone.value,
                monotone_tolerance=monotone_tolerance,
            )
        except FeatureTableError as err:
            console.print(
                f"[red]error[/]: {features} breaks the feature-table contract:", soft_wrap=True
            )
            for p in err.problems:
                console.print(f"  - {p}", soft_wrap=True)
            raise typer.Exit(1) from None
        except (FileNotFoundError, ValueError) as err:
            console.print(f"[red]error[/]: {err}", soft_wrap=True)
            raise typer.Exit(1) from None
        except OSError as err:  # the Dask scheduler cannot be reached
            console.print(f"[red]error[/]: {err}", soft_wrap=True)
            raise typer.Exit(2) from None
    split = out.split
    console.print(
        f"run [bold]{out.run_id}[/] → {out.model_name} v{out.model_version} "
        f"({out.seconds:.0f} s; store {out.tracking_uri.split('@')[-1]})"
    )
    console.print(f"split: {getattr(split, 'kind', '?')} — {getattr(split, 'reason', '')}")
    console.print(metrics_table(out.metrics, f"{out.model_name}: test window"))
    if out.decision is not None:
        print_decision(out.decision)
    else:
        console.print(f"champion gate: not run ({out.reason})")
    typer.echo(out.run_id)


def promote_cmd(
    model_name: str = typer.Option(..., "--model-name", help="Registered model name."),
    version: str | None = typer.Option(None, "--version", help="Candidate (default: newest)."),
    force: bool = typer.Option(
        False, "--force", help="Move the alias whatever the gate says (recorded)."
    ),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit)."),
    actor: str | None = typer.Option(None, "--actor", help="Who (default: login name)."),
) -> None:
    """Move the alias 'champion' to a version if it beats the champion (audited; exit 3 if refused)."""
    from training import tracking
    from training.registry import promote

    if force and not reason:
        console.print("[red]error[/]: --force needs a --reason (it is recorded)")
        raise typer.Exit(2)
    tracking.configure()
    try:
        decision = promote(model_name, version, force=force, reason=reason, actor=actor)
    except ValueError as err:
        console.print(f"[red]error[/]: {err}", soft_wrap=True)
        raise typer.Exit(1) from None
    print_decision(decision)
    if decision.action == "refused":
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("train")(train_cmd)
    app.command("promote")(promote_cmd)
