"""Province scale, local engine vs Dask LocalCluster: wall time and peak memory of each step.

Run on demand (not a test; takes minutes to an hour):

    .venv/bin/python benchmarks/bench_scale.py --households 20000 [--workers 2] [--repeat 1]
    .venv/bin/python benchmarks/bench_scale.py --households 100000 --work /tmp/scale100k

Steps, each in a fresh child process (so peak memory is the step's own):

1. **simulate** ``--households`` borrower households over the simulator's default ten years
   (local only: the simulator streams commune by commune already);
2. **features** — the portfolio view, every month-end snapshot, streamed to Parquet
   (``vbsp-risk features``), local engine then Dask;
3. **materialize** — the online store's rows as of the last closed month, computed commune by
   commune (``features.engine.store_rows``; local: in the process, Dask: on the workers), then
   written to SQLite;
4. **train** — ``train_view`` on the portfolio table (split, LightGBM with early stopping,
   calibration, challenger, evaluation with ``--n-boot`` replicates, backtest refits, report):
   local, then with every booster fitted by ``lightgbm.dask`` (``training.dask_train``);
5. **score** — batch scores (probability and band, no reasons) of every row of the portfolio
   table with the locally trained model, read and scored row group by row group
   (``features.engine.score_parquet``), local then Dask. In the local step, in the same run:
   raw ``Booster.predict`` (1 thread, as the service) on the same rows' matrix, the engine path
   on the table in memory (``features.engine.score_frame``), and reasons for the last month.

Peak memory is sampled every 0.1 s as the resident set of the step's whole process tree (client,
scheduler and workers for Dask) — ``tree``; ``main`` is the step's own process. Medians over
``--repeat`` runs (the machine is shared and noisy); ratios dask / local.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class PeakMemory:
    """Peak RSS of this process and of its whole tree, sampled in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.main_mb = 0.0
        self.tree_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        try:
            main = self._proc.memory_info().rss
            children = self._proc.children(recursive=True)
        except psutil.Error:
            return
        tree = main
        for child in children:
            with contextlib.suppress(psutil.Error):  # ended between listing and reading
                tree += child.memory_info().rss
        self.main_mb = max(self.main_mb, main / 2**20)
        self.tree_mb = max(self.tree_mb, tree / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _engine(name: str, workers: int) -> Any:
    from features.engine import DaskEngine, LocalEngine

    return LocalEngine() if name == "local" else DaskEngine("local", n_workers=workers)


# --- steps (run in a child process: ``bench_scale.py --step NAME ...``) -------------------


def step_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from features.simulator import SimConfig, simulate

    t0 = time.perf_counter()
    simulate(args.data, SimConfig(households=args.households, seed=args.seed))
    return {"wall_s": time.perf_counter() - t0}


def step_features(args: argparse.Namespace) -> dict[str, Any]:
    from features.build import write_feature_table
    from features.engine import partitioned_pieces

    engine = _engine(args.engine, args.workers)  # cluster start-up (~2 s) not timed
    t0 = time.perf_counter()
    pieces, _ = partitioned_pieces(args.data, "portfolio", engine)
    rows = write_feature_table(pieces, args.out)
    wall = time.perf_counter() - t0
    engine.close()
    return {"wall_s": wall, "rows": rows}


def step_materialize(args: argparse.Namespace) -> dict[str, Any]:
    from features import storage
    from features.db import make_engine
    from features.engine import store_rows, write_store_rows
    from features.online_store import default_as_of

    engine = _engine(args.engine, args.workers)
    as_of = default_as_of(storage.read_manifest(args.data)["export_date"])
    t0 = time.perf_counter()
    rows = store_rows(args.data, as_of, engine)
    computed = time.perf_counter() - t0
    n = write_store_rows(rows, make_engine(f"sqlite:///{args.out}"), as_of)
    wall = time.perf_counter() - t0
    engine.close()
    return {"wall_s": wall, "compute_s": computed, "rows": n}


def step_train(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from training.train import train_view

    table = pd.read_parquet(args.features)
    truth = pd.read_parquet(args.data / "truth")
    with contextlib.ExitStack() as stack:
        if args.engine == "dask":
            from training.dask_train import dask_fitting

            engine = stack.enter_context(_engine("dask", args.workers))
            stack.enter_context(dask_fitting(engine.client))
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            r = train_view(table, "trouble_12m", "portfolio", Path(out), truth=truth,
                           n_boot=args.n_boot)  # fmt: skip
            wall = time.perf_counter() - t0
    if args.out:
        r.scorer.save(args.out)
    m = r.metrics["lightgbm"]
    return {
        "wall_s": wall,
        "rows": len(table),
        "stage_seconds": r.params["stage_seconds"],
        "backtest_seconds": r.params["stage_seconds"]["backtest"],
        "num_boost_round": r.params["num_boost_round"],
        "roc_auc": m["roc_auc"],
        "pr_auc": m["pr_auc"],
        "capture_top10": m["capture_top10"],
        "brier": m["brier"],
    }


def _median_time(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_score(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    from features import storage
    from features.engine import LocalEngine
    from serving.batch_score import score_frame, score_parquet
    from serving.model_store import from_scorer
    from training.scorer import Scorer

    model = from_scorer(Scorer.load(args.model), "bench", "1")
    households = storage.read_raw(args.data, "households")[
        ["household_id", "group_id", "village_id"]
    ]
    engine = _engine(args.engine, args.workers)
    rows = pq.ParquetFile(args.features).metadata.num_rows
    out: dict[str, Any] = {"rows": rows}

    def engine_from_file() -> None:
        score_parquet(model, args.features, engine, households=households, explain=False)

    def probability_from_file() -> None:
        score_parquet(model, args.features, engine, explain=None)

    out["wall_s"] = _median_time(engine_from_file, args.score_repeat)
    out["rows_per_s"] = rows / out["wall_s"]
    out["probability_s"] = _median_time(probability_from_file, args.score_repeat)
    out["probability_rows_per_s"] = rows / out["probability_s"]
    if args.engine == "local":  # the baselines of the same run, same process
        table = pd.read_parquet(args.features, columns=["household_id", "as_of", "commune_id",
                                                        *model.names])  # fmt: skip
        table = table.merge(households, on="household_id", how="left", validate="many_to_one")
        x = model.matrix_from_frame(table)
        booster = model.scorer.booster
        raw = _median_time(lambda: booster.predict(x, num_threads=1), args.score_repeat)
        raw_all = _median_time(lambda: booster.predict(x), args.score_repeat)
        matrix = _median_time(lambda: model.matrix_from_frame(table), args.score_repeat)
        in_memory = _median_time(
            lambda: score_frame(model, table, LocalEngine(), explain=False), args.score_repeat
        )
        in_memory_p = _median_time(
            lambda: score_frame(model, table, LocalEngine(), explain=None), args.score_repeat
        )
        last = table[table["as_of"] == table["as_of"].max()]
        t0 = time.perf_counter()
        score_frame(model, last, LocalEngine(), explain=True)
        reasons = time.perf_counter() - t0
        out.update({
            "raw_predict_s": raw, "raw_rows_per_s": rows / raw,
            "raw_predict_all_threads_s": raw_all, "matrix_s": matrix,
            "in_memory_s": in_memory, "in_memory_rows_per_s": rows / in_memory,
            "in_memory_probability_s": in_memory_p,
            "trees": booster.num_trees(),
            "last_month_rows": len(last), "last_month_with_reasons_s": reasons,
        })  # fmt: skip
    engine.close()
    return out


STEPS = {
    "simulate": step_simulate,
    "features": step_features,
    "materialize": step_materialize,
    "train": step_train,
    "score": step_score,
}


def run_step(argv: list[str]) -> dict[str, Any]:
    """Run one step in a child process; return its figures (with peak memory)."""
    res = subprocess.run(
        [sys.executable, __file__, *argv], check=False, capture_output=True, text=True
    )
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-4000:])
        raise SystemExit(f"step {argv[:3]} failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("distributed", "lightgbm"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with PeakMemory() as peak:
        figures = STEPS[args.step](args)
    import resource

    figures["peak_main_mb"] = peak.main_mb
    figures["peak_tree_mb"] = peak.tree_mb
    figures["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _common(args: argparse.Namespace) -> list[str]:
    return ["--households", str(args.households), "--workers", str(args.workers),
            "--seed", str(args.seed), "--n-boot", str(args.n_boot),
            "--score-repeat", str(args.score_repeat)]  # fmt: skip


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in runs[0].items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs)
        else:
            out[k] = v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="workers of the Dask LocalCluster (1 thread each)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine step")
    parser.add_argument("--score-repeat", type=int, default=3, help="timed scoring passes")
    parser.add_argument("--n-boot", type=int, default=50, help="bootstrap replicates (train)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, help="keep data and tables here (reused if present)")
    parser.add_argument("--steps", default="simulate,features,materialize,train,score")
    parser.add_argument("--engines", default="local,dask", help="engines to run, in order")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # child-process arguments
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--features", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        child(args)
        return

    steps = args.steps.split(",")
    work_ctx = tempfile.TemporaryDirectory(prefix="bench-scale-") if args.work is None else None
    work = Path(work_ctx.name) if work_ctx else args.work
    work.mkdir(parents=True, exist_ok=True)
    data, common = work / "district", _common(args)
    table, model = work / "portfolio-local.parquet", work / "model-local"
    figures: dict[str, dict[str, Any]] = {}

    def record(name: str, runs: list[dict[str, Any]]) -> None:
        figures[name] = _median(runs)
        f = figures[name]
        print(f"{name:<22} wall {f['wall_s']:8.1f} s   peak main {f['peak_main_mb']:7.0f} MB   "
              f"tree {f['peak_tree_mb']:7.0f} MB", flush=True)  # fmt: skip

    if "simulate" in steps and not (data / "manifest.json").exists():
        record("simulate", [run_step(["--step", "simulate", "--data", str(data), *common])])
    for engine in args.engines.split(","):
        e = ["--engine", engine, "--data", str(data), *common]
        if "features" in steps:
            out = work / f"portfolio-{engine}.parquet"
            record(f"features/{engine}", [run_step(["--step", "features", *e, "--out", str(out)])
                                          for _ in range(args.repeat)])  # fmt: skip
        if "materialize" in steps:
            db = work / f"store-{engine}.db"
            record(f"materialize/{engine}", [
                run_step(["--step", "materialize", *e, "--out", str(db)])
                for _ in range(args.repeat)
            ])  # fmt: skip
        if "train" in steps:
            keep = ["--out", str(model)] if engine == "local" else []
            record(f"train/{engine}", [
                run_step(["--step", "train", *e, "--features", str(table), *keep])
                for _ in range(args.repeat)
            ])  # fmt: skip
        if "score" in steps:
            record(f"score/{engine}", [
                run_step(["--step", "score", *e, "--features", str(table), "--model", str(model)])
                for _ in range(args.repeat)
            ])  # fmt: skip

    if "features" in steps and (work / "portfolio-dask.parquet").exists():
        figures["features_identical"] = {
            "value": _same_table(work / "portfolio-dask.parquet", table)
        }
    _report(args, figures)
    if work_ctx:
        work_ctx.cleanup()


def _same_table(a: Path, b: Path) -> bool:
    """Equal Parquet tables, compared row group by row group (bounded memory)."""
    import pyarrow.parquet as pq

    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    if fa.metadata.num_row_groups != fb.metadata.num_row_groups:
        return False
    return all(
        fa.read_row_group(i).to_pandas().equals(fb.read_row_group(i).to_pandas())
        for i in range(fa.metadata.num_row_groups)
    )


def _report(args: argparse.Namespace, figures: dict[str, dict[str, Any]]) -> None:
    if args.json:
        print(json.dumps({"households": args.households, "workers": args.workers,
                          "figures": figures}, indent=2))  # fmt: skip
        return
    print(f"\n{args.households:,} households, Dask LocalCluster of {args.workers} worker(s) "
          f"x 1 thread, {os.cpu_count()} cores; median of {args.repeat} run(s)")  # fmt: skip
    print(f"{'step':<12} {'local s':>9} {'dask s':>9} {'dask/local':>10} "
          f"{'local peak MB':>14} {'dask tree MB':>13}")  # fmt: skip
    for step in ("features", "materialize", "train", "score"):
        a, b = figures.get(f"{step}/local"), figures.get(f"{step}/dask")
        if a and b:
            print(f"{step:<12} {a['wall_s']:9.1f} {b['wall_s']:9.1f} "
                  f"{b['wall_s'] / a['wall_s']:10.2f} {a['peak_tree_mb']:14.0f} "
                  f"{b['peak_tree_mb']:13.0f}")  # fmt: skip
    if "simulate" in figures:
        s = figures["simulate"]
        print(f"simulate     {s['wall_s']:9.1f} s, peak {s['peak_tree_mb']:.0f} MB")
    hh = args.households
    for step in ("features", "materialize", "train"):
        for eng in ("local", "dask"):
            f = figures.get(f"{step}/{eng}")
            if f:
                print(f"  {step}/{eng}: {1e3 * f['wall_s'] / hh:.2f} ms per household"
                      + (f", {f['rows']:,} rows" if "rows" in f else ""))  # fmt: skip
    t = figures.get("train/local"), figures.get("train/dask")
    for name, f in zip(("local", "dask"), t, strict=True):
        if f:
            print(f"  train/{name}: fit_lightgbm {f['stage_seconds']['fit_lightgbm']:.1f} s, "
                  f"backtest {f['backtest_seconds']:.1f} s, {f['num_boost_round']} rounds, "
                  f"ROC AUC {f['roc_auc']:.3f}, PR AUC {f['pr_auc']:.3f}, "
                  f"capture top10 {f['capture_top10']:.3f}")  # fmt: skip
    s = figures.get("score/local")
    if s:
        raw, n = s["raw_predict_s"], s["rows"]
        print(f"score ({n:,} rows, {s['trees']} trees); time / raw Booster.predict (1 thread, "
              f"{n / raw:,.0f} rows/s, same matrix, same run):")  # fmt: skip
        lines = [("raw predict, all threads", s["raw_predict_all_threads_s"]),
                 ("matrix_from_frame alone", s["matrix_s"]),
                 ("local, in memory, probability", s["in_memory_probability_s"]),
                 ("local, in memory, score rows", s["in_memory_s"]),
                 ("local, Parquet, probability", s["probability_s"]),
                 ("local, Parquet, score rows", s["wall_s"])]  # fmt: skip
        d = figures.get("score/dask")
        if d:
            lines += [("dask, Parquet, probability", d["probability_s"]),
                      ("dask, Parquet, score rows", d["wall_s"])]  # fmt: skip
        for label, sec in lines:
            print(f"  {label:<31} {n / sec:>10,.0f} rows/s  x{sec / raw:.2f}")
        print(f"  last month with reasons: {s['last_month_rows']:,} households in "
              f"{s['last_month_with_reasons_s']:.1f} s")  # fmt: skip
    if "features_identical" in figures:
        print(f"features identical between engines: {figures['features_identical']['value']}")


if __name__ == "__main__":
    main()
