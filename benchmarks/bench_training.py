"""Training figures: both views of the default district, wall time per stage, against a plain fit.

Run on demand (not a test), on the state folder of ``vbsp-risk run --no-serve`` (feature tables
in ``STATE/features``, truth in ``STATE/data/district/truth``); feature tables missing there are
built from ``STATE/data/district`` first (not timed):

    .venv/bin/python benchmarks/bench_training.py --state state [--repeat 3] [--n-boot 1000]
    .venv/bin/python benchmarks/bench_training.py --portfolio P.parquet --application A.parquet \\
        --truth DISTRICT/truth

Each repeat trains both views with ``train_view`` as ``vbsp-risk run`` does (tables read by
``read_training_table``, the application view pooling the portfolio rows into its training
window, ``--monotone auto``, the oracles from ``truth/``), without MLflow, and reads the stage
timings it records (``params["stage_seconds"]``, wall, and ``params["stage_cpu_seconds"]``, the
process's CPU): prepare, monotone (the ``auto`` test fits), fit LightGBM, calibrate, fit
logistic, evaluate + bootstrap, backtest, report. ``--metrics-out FILE`` writes the last
repeat's metrics of both views (every ranking, with intervals) as JSON, to compare two versions
of the trainer on the same state folder.

Baseline, measured in the same run, interleaved with the repeats: a plain LightGBM fit (same
parameters, no constraints, no validation) of the model's rounds on the same training matrix.
The machine is shared and its speed drifts, so the ratio ``train_view / plain fit`` of each
repeat is a steadier figure than seconds, and the process's CPU seconds (training is
single-threaded: on a quiet host they are its wall time) are printed beside the wall time;
printed are the medians over the repeats, the ratios' median and range (wall and CPU), and the
acceptance line (both views within 180 s on 2 cores).
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

import lightgbm as lgb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.catalog import VIEWS
from training import N_BOOT
from training.fit import model_frame
from training.pipeline import (
    data_dir_of,
    disbursement_dates,
    hazard_events,
    pool_with_data_loan_terms,
    read_truth,
)
from training.train import STAGES, TrainResult, train_view
from training.training_table import read_training_table

BUDGET_SECONDS = 180.0


def _tables(args: argparse.Namespace) -> tuple[dict[str, Path], Path | None]:
    """Feature tables and truth folder: given, or the state folder's (built when missing)."""
    if args.state is None:
        paths = {
            v: p
            for v, p in (("portfolio", args.portfolio), ("application", args.application))
            if p is not None
        }
        return paths, args.truth
    data = args.state / "data" / "district"
    paths = {v: args.state / "features" / f"{v}.parquet" for v in VIEWS}
    for view, path in paths.items():
        if not path.exists():
            from features.build import partitioned_feature_table, write_feature_table

            path.parent.mkdir(parents=True, exist_ok=True)
            pieces, _ = partitioned_feature_table(data, view)
            write_feature_table(pieces, path)
    return paths, (data / "truth") if (data / "truth").is_dir() else None


def _train_rows(table: pd.DataFrame, label: str, start: str, end: str) -> pd.DataFrame:
    as_of = pd.to_datetime(table["as_of"])
    keep = table[label].notna() & (as_of >= start) & (as_of <= end)
    return table[keep.to_numpy()]


def plain_fit(
    r: TrainResult, table: pd.DataFrame, pool: pd.DataFrame | None, label: str
) -> tuple[float, float]:
    """Wall and CPU seconds of a plain LightGBM fit of the model's rounds on its training matrix."""
    w = r.split.windows["train"]
    rows = [_train_rows(table, label, w["start"], w["end"])]
    if pool is not None and r.params.get("pool", {}).get("rows"):
        rows.append(_train_rows(pool, label, r.params["pool"]["start"], r.params["pool"]["end"]))
    names, cats = r.scorer.names, r.scorer.categorical
    train = pd.concat([f.reindex(columns=[*names, label]) for f in rows], ignore_index=True)
    for name in names:  # a flag of the view's own missing on the pool's rows: object after concat
        if name not in cats and train[name].dtype == object:
            train[name] = train[name].astype("float64")
    params = {**r.params["lightgbm_params"], "metric": "none"}
    t0, c0 = time.perf_counter(), time.process_time()
    x = model_frame(train, names, cats)
    lgb.train(
        params,
        lgb.Dataset(x, label=train[label].astype("int64").to_numpy()),
        num_boost_round=int(r.params["num_boost_round"]),
    )
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, help="state folder of vbsp-risk run --no-serve")
    parser.add_argument("--portfolio", type=Path, help="portfolio feature table (Parquet)")
    parser.add_argument("--application", type=Path, help="application feature table (Parquet)")
    parser.add_argument("--truth", type=Path, help="simulator truth/ folder (adds the oracles)")
    parser.add_argument("--label", default="trouble_12m")
    parser.add_argument("--n-boot", type=int, default=N_BOOT, help=f"as the CLI (default {N_BOOT})")
    parser.add_argument("--monotone", default="auto", choices=("catalog", "auto", "off"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--metrics-out", type=Path, help="write the last repeat's metrics (JSON)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("training.monotone").setLevel(logging.INFO)
    paths, truth_dir = _tables(args)
    if not paths:
        parser.error("give --state, or --portfolio and/or --application")
    tables = {v: read_training_table(p, args.label) for v, p in paths.items()}
    truth = read_truth(truth_dir)
    # as `vbsp-risk run` trains: the application pool given each snapshot's main-loan terms, and
    # the application rows' state oracle taken after their loan's pay-out (both need `loans`)
    data_dir = data_dir_of(None, truth_dir)
    pool = tables.get("portfolio")
    app_pool = pool_with_data_loan_terms(pool, data_dir) if pool is not None else None
    paid = disbursement_dates(tables["application"], data_dir) if "application" in tables else None
    hazards = hazard_events(data_dir)

    stage_runs: dict[str, list[dict[str, float]]] = {v: [] for v in tables}
    totals, plains, ratios, cpus, cpu_ratios = [], [], [], [], []
    last: dict[str, TrainResult] = {}
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        results = {}
        for view, table in tables.items():
            with tempfile.TemporaryDirectory() as out:
                results[view] = train_view(
                    table,
                    args.label,
                    view,
                    Path(out),
                    seed=args.seed,
                    truth=truth,
                    disbursed=paid if view == "application" else None,
                    n_boot=args.n_boot,
                    pool=app_pool if view == "application" else None,
                    contract_checked=True,
                    monotone=args.monotone,
                    hazards=hazards,
                )
            stages = dict(results[view].params["stage_seconds"])
            stages["total"] = results[view].params["train_seconds"]
            cpu = results[view].params.get("stage_cpu_seconds", {})
            stages.update({f"cpu_{k}": v for k, v in cpu.items()})
            stages["cpu_total"] = sum(cpu.values())
            stage_runs[view].append(stages)
            print(
                f"repeat {len(totals) + 1} {view}: {stages['total']:.1f} s, "
                f"CPU {stages['cpu_total']:.1f} s; per stage wall/CPU: "
                + ", ".join(
                    f"{k} {stages[k]:.1f}/{stages.get(f'cpu_{k}', 0.0):.1f}" for k in STAGES
                ),
                file=sys.stderr,
                flush=True,
            )
        totals.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        fits = [
            plain_fit(r, tables[v], app_pool if v == "application" else None, args.label)
            for v, r in results.items()
        ]
        plain, plain_cpu = sum(f[0] for f in fits), sum(f[1] for f in fits)
        plains.append(plain)
        ratios.append(totals[-1] / plain)
        cpu_ratios.append(cpus[-1] / plain_cpu)
        last = results
        print(
            f"repeat {len(totals)}: both views {totals[-1]:.1f} s (CPU {cpus[-1]:.1f} s), "
            f"plain fits {plain:.1f} s, "
            f"ratio {ratios[-1]:.2f} (CPU {cpu_ratios[-1]:.2f})",
            file=sys.stderr,
            flush=True,
        )
        for view, r in results.items():
            m = r.metrics
            line = ", ".join(
                f"{n} {m[n]['roc_auc']:.3f}"
                for n in ("lightgbm", "logistic", "state_oracle", "oracle")
                if n in m
            )
            print(
                f"  {view}: AUC {line}; monotone {r.params['monotone']}",
                file=sys.stderr,
                flush=True,
            )

    figures: dict[str, dict] = {}
    for view, runs in stage_runs.items():
        keys = (*STAGES, "total", *(f"cpu_{k}" for k in STAGES), "cpu_total")
        med = {k: statistics.median(run.get(k, 0.0) for run in runs) for k in keys}
        figures[view] = {
            "median_seconds": {k: med[k] for k in (*STAGES, "total")},
            "median_cpu_seconds": {k: med[f"cpu_{k}"] for k in STAGES}
            | {"total": med["cpu_total"]},
            "share_of_total": {k: med[k] / med["total"] for k in STAGES},
        }
    both, plain = statistics.median(totals), statistics.median(plains)
    metrics = {
        view: {
            n: {k: r.metrics[n].get(k) for k in ("roc_auc", "roc_auc_lo", "roc_auc_hi")}
            for n in r.metrics
            if n
            in (
                "lightgbm",
                "logistic",
                "state_oracle",
                "oracle",
                "gap_lightgbm_vs_state_oracle",
                "gap_lightgbm_vs_oracle",
            )
        }
        for view, r in last.items()
    }
    monotone = {v: r.params["monotone"] for v, r in last.items()}
    if args.metrics_out is not None:
        full = {v: r.metrics for v, r in last.items()}
        args.metrics_out.write_text(json.dumps(full, indent=1, sort_keys=True, default=float))
    if args.json:
        print(
            json.dumps(
                {
                    "views": figures,
                    "both_views_seconds": totals,
                    "plain_fit_seconds": plains,
                    "both_views_cpu_seconds": cpus,
                    "ratios": ratios,
                    "cpu_ratios": cpu_ratios,
                    "both_views_median_seconds": both,
                    "repeat": args.repeat,
                    "n_boot": args.n_boot,
                    "metrics": metrics,
                    "monotone": monotone,
                },
                indent=2,
            )
        )
        return
    print(
        f"train_view, n_boot={args.n_boot}, --monotone {args.monotone}, median of "
        f"{args.repeat} run(s), wall and CPU seconds"
    )
    for view, f in figures.items():
        print(
            f"\n{view}: total {f['median_seconds']['total']:.1f} s, "
            f"CPU {f['median_cpu_seconds']['total']:.1f} s"
        )
        for k in STAGES:
            sec, share = f["median_seconds"][k], f["share_of_total"][k]
            cpu = f["median_cpu_seconds"][k]
            print(f"  {k:<14} {sec:7.2f} s  {100 * share:5.1f} %   CPU {cpu:7.2f} s")
        m = monotone[view]
        print(
            f"  monotone: {m['groups']} groups, dropped {m['dropped'] or 'none'}, test fits of "
            f"{m['rounds']} rounds, base AUC {m['base_auc']}"
        )
    print(
        f"\nboth views: median {both:.1f} s (runs {', '.join(f'{t:.1f}' for t in totals)}); "
        f"plain LightGBM fits of the same matrices: median {plain:.1f} s"
    )
    print(
        f"CPU seconds of both views (this process; the wall time of a quiet host, training "
        f"being single-threaded): median {statistics.median(cpus):.1f}"
    )
    print(
        f"ratio both views / plain fits: median {statistics.median(ratios):.2f} "
        f"(range {min(ratios):.2f}–{max(ratios):.2f}); of their CPU seconds: median "
        f"{statistics.median(cpu_ratios):.2f}"
    )
    verdict = "PASS" if both <= BUDGET_SECONDS else "FAIL"
    print(
        f"acceptance: training both views on the default district <= {BUDGET_SECONDS:.0f} s "
        f"on 2 cores: {verdict} ({both:.1f} s)"
    )
    for view, m in metrics.items():
        for name, v in m.items():
            print(
                f"{view:<12} {name:<30} ROC AUC {v['roc_auc']:+.3f} "
                f"[{v['roc_auc_lo'] or np.nan:+.3f}, {v['roc_auc_hi'] or np.nan:+.3f}]"
            )


if __name__ == "__main__":
    main()
