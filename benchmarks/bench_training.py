"""Training figures: ``train_view`` on both views' feature tables, wall time per stage.

Run on demand (not a test), on feature tables built beforehand (feature building is not timed):

    .venv/bin/python benchmarks/bench_training.py \\
        --portfolio /tmp/h6/portfolio.parquet --application /tmp/h6/application.parquet \\
        --truth /tmp/h6/district/truth [--n-boot 1000] [--repeat 3]

Each repeat trains every given view with ``train_view`` (as ``vbsp-risk train`` does, without
MLflow; the application view pools the portfolio table's rows into its training window when
both are given, as ``make run`` does) and reads the stage timings it records in
``params["stage_seconds"]``: prepare (contract check, split, oracle, model frames), fit LightGBM, calibrate, fit logistic, evaluate + bootstrap,
backtest (refits and point metrics of the older windows) and report (plots, SHAP, model card).
Printed: the median of each stage over the repeats, its share of the view's total, the median
total per view and the median of both views together, plus the headline test metrics of the
last run. Medians, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import N_BOOT
from training.train import STAGES, train_view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portfolio", type=Path, help="portfolio feature table (Parquet)")
    parser.add_argument("--application", type=Path, help="application feature table (Parquet)")
    parser.add_argument("--truth", type=Path, help="simulator truth/ folder (adds the oracle)")
    parser.add_argument("--label", default="trouble_12m")
    parser.add_argument("--n-boot", type=int, default=N_BOOT, help=f"as the CLI (default {N_BOOT})")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    views = {v: p for v, p in (("portfolio", args.portfolio), ("application", args.application))}
    views = {v: p for v, p in views.items() if p is not None}
    if not views:
        parser.error("give --portfolio and/or --application")
    tables = {v: pd.read_parquet(p) for v, p in views.items()}
    truth = pd.read_parquet(args.truth) if args.truth else None

    stage_runs: dict[str, list[dict[str, float]]] = {v: [] for v in views}
    totals: list[float] = []
    last: dict[str, dict] = {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for view, table in tables.items():
            with tempfile.TemporaryDirectory() as out:
                pool = tables.get("portfolio") if view == "application" else None
                r = train_view(table, args.label, view, Path(out), seed=args.seed, truth=truth,
                               n_boot=args.n_boot, pool=pool)  # fmt: skip
            stages = dict(r.params["stage_seconds"])
            stages["total"] = r.params["train_seconds"]
            stage_runs[view].append(stages)
            last[view] = {
                n: {
                    k: r.metrics[n].get(k)
                    for k in (
                        "roc_auc",
                        "roc_auc_lo",
                        "roc_auc_hi",
                        "capture_top10",
                        "capture_top10_lo",
                        "capture_top10_hi",
                    )
                }  # fmt: skip
                for n in ("lightgbm", "logistic", "oracle")
                if n in r.metrics
            }
        totals.append(time.perf_counter() - t0)

    figures: dict[str, dict] = {}
    for view, runs in stage_runs.items():
        med = {k: statistics.median(run[k] for run in runs) for k in (*STAGES, "total")}
        figures[view] = {
            "median_seconds": med,
            "share_of_total": {k: med[k] / med["total"] for k in STAGES},
        }
    both = statistics.median(totals)
    if args.json:
        doc = {"views": figures, "both_views_median_seconds": both, "repeat": args.repeat,
               "n_boot": args.n_boot, "metrics": last}  # fmt: skip
        print(json.dumps(doc, indent=2))
        return
    print(f"train_view, n_boot={args.n_boot}, median of {args.repeat} run(s), wall seconds")
    for view, f in figures.items():
        print(f"\n{view}: total {f['median_seconds']['total']:.1f} s")
        for k in STAGES:
            sec, share = f["median_seconds"][k], f["share_of_total"][k]
            print(f"  {k:<14} {sec:7.2f} s  {100 * share:5.1f} %")
    print(f"\nboth views: {both:.1f} s (budget 180 s)")
    for view, m in last.items():
        for name, v in m.items():
            print(f"{view:<12} {name:<9} ROC AUC {v['roc_auc']:.3f} [{v['roc_auc_lo']:.3f}, "
                  f"{v['roc_auc_hi']:.3f}]  capture top 10% {100 * v['capture_top10']:.1f}% "
                  f"[{100 * v['capture_top10_lo']:.1f}, {100 * v['capture_top10_hi']:.1f}]")  # fmt: skip


if __name__ == "__main__":
    main()
