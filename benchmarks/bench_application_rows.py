"""Which rows should train the application model? A measurement, not a guess (issue 18 item 1).

Trains the application view three ways on the same split and test window and prints the test
window's ROC AUC (bootstrap interval) of LightGBM, its logistic challenger and the practice
rankings, with the split gain of the application fields:

* ``pooled_empty`` — application rows + older portfolio snapshots whose application fields are
  missing (the recipe before issue 18);
* ``pooled_terms`` — the same pool, each snapshot given the terms of its household's current
  main loan (largest active loan) in the application columns, computed by the same formulas
  (:func:`features.application.application_features`);
* ``app_only`` — application rows only.

Usage (after ``vbsp-risk features`` for both views of a district)::

    python benchmarks/bench_application_rows.py --data DIR --features FEATURES_DIR \
        [--truth DIR/truth] [--variants app_only,pooled_terms,pooled_empty] [--n-boot 200]
    python benchmarks/bench_application_rows.py --data x --features x \
        --champion-gains sqlite:///STATE/mlflow/mlflow.db   # gains of a run's champion
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from features import storage
from features.application_pool import pool_with_loan_terms
from training.pipeline import read_truth
from training.report import importance
from training.train import train_view
from training.training_table import read_training_table

LABEL = "trouble_12m"


def report(name: str, result, seconds: float) -> None:
    m = result.metrics
    line = f"{name:13s} ({seconds:4.0f} s)"
    for ranking in m:
        if ranking.startswith("gap_"):
            continue
        r = m[ranking]
        line += f"\n    {ranking:28s} AUC {r['roc_auc']:.3f} [{r.get('roc_auc_lo', np.nan):.3f}, {r.get('roc_auc_hi', np.nan):.3f}]"
    print(line)
    gains = importance(result.scorer.booster)
    app = gains[[n for n in gains.index if n.startswith("app_")]]
    print(
        f"    application-field gain share {app.sum() / gains.sum():.3f}: "
        + ", ".join(f"{k} {v:.0f}" for k, v in app.sort_values(ascending=False).items())
    )


def champion_gains(tracking_uri: str, name: str = "overdue-risk-application") -> None:
    """Print the split gain of the application fields in a registered champion."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    gains = importance(model.unwrap_python_model().scorer.booster)
    app = gains[[n for n in gains.index if n.startswith("app_")]]
    print(f"{name}@champion: application-field gain share {app.sum() / gains.sum():.3f}")
    print(app.sort_values(ascending=False).round(1).to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--truth", type=Path)
    ap.add_argument("--variants", default="app_only,pooled_terms,pooled_empty")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--champion-gains",
        metavar="TRACKING_URI",
        help="only print the application fields' gain in that store's champion",
    )
    args = ap.parse_args()
    if args.champion_gains:
        champion_gains(args.champion_gains)
        return
    table = read_training_table(args.features / "application.parquet", LABEL)
    truth = read_truth(args.truth)
    variants = args.variants.split(",")
    pool = None
    if any(v.startswith("pooled") for v in variants):
        pool = read_training_table(args.features / "portfolio.parquet", LABEL)
    for variant in variants:
        p = None
        if variant == "pooled_empty":
            p = pool
        elif variant == "pooled_terms":
            loans = storage.read_raw(args.data, "loans")
            households = storage.read_raw(args.data, "households")
            p = pool_with_loan_terms(pool, loans, households)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = train_view(
                table,
                LABEL,
                "application",
                Path(tmp),
                seed=args.seed,
                truth=truth,
                n_boot=args.n_boot,
                pool=p,
                contract_checked=True,
            )
        report(variant, result, time.perf_counter() - started)


if __name__ == "__main__":
    main()
