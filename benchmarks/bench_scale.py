"""Province scale, local engine vs Dask LocalCluster: wall time and peak memory of each step.

Run on demand (not a test; takes minutes to an hour):

    .venv/bin/python benchmarks/bench_scale.py --households 20000 [--workers 2] [--repeat 1]
    .venv/bin/python benchmarks/bench_scale.py --households 100000 --work /tmp/scale100k \
        --steps train,score --train-months 36

``--work`` keeps the district, tables and model, so later runs reuse them (``--steps``;
``--engines local`` runs one engine). Steps, each in a fresh child process (so peak memory is
the step's own):

1. **simulate** ``--households`` borrower households over the simulator's default ten years
   (local only: the simulator streams commune by commune already);
2. **features** — the portfolio view, every month-end snapshot, streamed to Parquet
   (``vbsp-risk features``), local engine then Dask;
3. **materialize** — the online store's rows as of the last closed month, computed commune by
   commune (``features.engine.store_rows``; local: in the process, Dask: on the workers), then
   written to SQLite;
4. **train** — ``vbsp-risk train`` as the command runs it (``training.pipeline.run_training``:
   compact training table, split, LightGBM with early stopping, calibration, challenger,
   evaluation with ``--n-boot`` replicates, backtest refits, fairness, MLflow run and
   registration in a scratch store; ``--train-months``): local, then with every booster fitted
   by ``lightgbm.dask`` (``training.dask_train``);
5. **score** — batch scores (probability and band, no reasons) of every row of the portfolio
   table with the locally trained model (``serving.batch_score``): workers writing
   ``part-<commune>.parquet`` (with their own timings), rows gathered to the client, probability
   only; local then Dask. In the local step, in the same process: raw ``Booster.predict`` (1 and
   2 threads) on each commune's matrix and the engine's in-memory steps on the same frames,
   summed over communes (reading not timed).

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
    from features.engine import store_rows, write_store_rows
    from features.online_store import default_as_of
    from vbsp_state.engine import make_engine

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
    """``vbsp-risk train`` as the command runs it (``run_training``: compact table, split, fits,
    evaluation, backtests, fairness, MLflow run and registration) into a scratch MLflow store."""
    import mlflow

    from training import tracking
    from training.pipeline import run_training

    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as store:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
        os.environ["VBSP_RISK_STATE_DIR"] = f"{store}/state"
        tracking.configure()
        kwargs = {
            "n_boot": args.n_boot,
            "truth_dir": args.data / "truth",
            "data_dir": args.data,
            "train_months": args.train_months,
        }
        t0 = time.perf_counter()
        if args.engine == "dask":
            from training.dask_train import run_training_dask

            with _engine("dask", args.workers) as engine:
                t0 = time.perf_counter()  # cluster start-up not timed
                r = run_training_dask(args.features, client=engine.client, **kwargs)
                wall = time.perf_counter() - t0
        else:
            r = run_training(args.features, **kwargs)
            wall = time.perf_counter() - t0
        mlflow.set_tracking_uri(None)
    if args.out:
        r.scorer.save(args.out)
    m, p = r.metrics["lightgbm"], r.params
    return {
        "wall_s": wall,
        "rows": int(sum(w["rows"] for w in r.split.windows.values())),
        "train_rows_used": p["train_rows_used"]["rows"],
        "train_window_rows": p["train_rows_used"]["window_rows"],
        "train_months": args.train_months,
        "stage_seconds": p["stage_seconds"],
        "backtest_seconds": p["stage_seconds"]["backtest"],
        "num_boost_round": p["num_boost_round"],
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


def _per_commune_baselines(model: Any, path: Path, places: Any) -> dict[str, Any]:
    """Per commune, back to back (so the shared machine's load hits all alike): the engine's
    read of the row group (Parquet columns, household places), raw ``Booster.predict`` with 1
    and 2 threads on its matrix, and the engine's own steps on the same frame — each summed
    over communes (the whole province's matrix would not fit the 8 GB budget; the sum is the
    same work)."""
    import pyarrow.parquet as pq

    from serving.batch_score import _piece, _read_group
    from serving.portfolio import fast_matrix

    booster = model.scorer.booster
    t = dict.fromkeys(("read", "raw1", "raw2", "matrix", "probability", "score_rows"), 0.0)
    for g in range(pq.ParquetFile(path).metadata.num_row_groups):
        t0 = time.perf_counter()
        frame = _read_group((path, g), model, None, places)
        t["read"] += time.perf_counter() - t0
        x = model.matrix_from_frame(frame)
        steps = (
            ("raw1", booster.predict, (x,), {"num_threads": 1}),
            ("raw2", booster.predict, (x,), {"num_threads": 2}),
            ("matrix", fast_matrix, (model, frame), {}),
            ("probability", _piece, (frame, model, None), {}),
            ("score_rows", _piece, (frame, model, False), {}),
        )
        for name, fn, fn_args, kwargs in steps:
            t0 = time.perf_counter()
            fn(*fn_args, **kwargs)
            t[name] += time.perf_counter() - t0
    return t


def _paired_on_worker(item: tuple[Path, int], model: Any, places: Any) -> dict[str, float]:
    """On a Dask worker: read one row group, then time raw ``Booster.predict`` (1 thread, the
    worker's one thread) and the engine's score rows on the same frame, back to back."""
    from serving.batch_score import _piece, _read_group

    t0 = time.perf_counter()
    frame = _read_group(item, model, None, places)
    read = time.perf_counter() - t0
    x = model.matrix_from_frame(frame)
    t0 = time.perf_counter()
    model.scorer.booster.predict(x, num_threads=1)
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    _piece(frame, model, False)
    return {"read": read, "raw1": raw, "score_rows": time.perf_counter() - t0}


def _import(module: str) -> None:
    """Import ``module`` (run on each Dask worker; returns nothing to ship back)."""
    import importlib

    importlib.import_module(module)


def step_score(args: argparse.Namespace) -> dict[str, Any]:
    """Batch scores of every row of the portfolio table (no reasons), engine paths and, in the
    same process and run, raw ``Booster.predict`` on the same rows' matrices."""
    import shutil

    import pyarrow.parquet as pq

    from features import storage
    from serving.batch_score import Places, ScoreOptions, score_parquet, write_score_parts
    from serving.model_store import LoadedModel, _codes
    from training.scorer import Scorer

    scorer = Scorer.load(args.model)
    # The model's own feature list, not the catalog's: the catalog may have gained features
    # since this (possibly reused) table was built; scoring only needs the model's columns.
    model = LoadedModel("bench", "1", "portfolio", tuple(scorer.names), scorer, _codes(scorer))
    households = storage.read_raw(args.data, "households")[
        ["household_id", "group_id", "village_id"]
    ]
    engine = _engine(args.engine, args.workers)
    if args.engine == "dask":  # imports on the workers before any timing, as the local process
        for module in ("serving.batch_score", "serving.portfolio", "lightgbm", "pyarrow.parquet"):
            engine.client.run(_import, module)
    rows = pq.ParquetFile(args.features).metadata.num_rows
    out: dict[str, Any] = {"rows": rows, "trees": model.scorer.booster.num_trees()}
    parts_dir = Path(tempfile.mkdtemp(prefix="bench-scores-", dir=args.features.parent))
    written: list[Any] = []

    def gathered() -> None:
        score_parquet(
            model, args.features, engine, ScoreOptions(households=households, explain=False)
        )

    def probability() -> None:
        score_parquet(model, args.features, engine, ScoreOptions(explain=None))

    def parts() -> None:
        written[:] = write_score_parts(
            model,
            args.features,
            parts_dir,
            engine,
            ScoreOptions(households=households, explain=False),
        )

    out["parts_s"] = _median_time(parts, args.score_repeat)
    out["wall_s"] = out["parts_s"]
    out["worker_read_s"] = sum(p.read_s for p in written)
    out["worker_score_s"] = sum(p.score_s for p in written)
    out["worker_write_s"] = sum(p.write_s for p in written)
    shutil.rmtree(parts_dir, ignore_errors=True)
    out["gathered_s"] = _median_time(gathered, args.score_repeat)
    out["probability_s"] = _median_time(probability, args.score_repeat)
    if args.engine == "local":  # the baselines of the same run, same process
        out.update(_per_commune_baselines(model, args.features, Places(households)))
    else:  # the same pairing on the workers, one commune per task
        from serving.batch_score import _groups

        timings = list(
            engine.map(
                _paired_on_worker,
                _groups([args.features.resolve()]),
                engine.share(model),
                engine.share(Places(households)),
            )
        )
        for key in ("read", "raw1", "score_rows"):
            out[f"worker_paired_{key}"] = sum(t[key] for t in timings)
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
    return [
        "--households",
        str(args.households),
        "--workers",
        str(args.workers),
        "--seed",
        str(args.seed),
        "--n-boot",
        str(args.n_boot),
        "--score-repeat",
        str(args.score_repeat),
        *(["--train-months", str(args.train_months)] if args.train_months else []),
    ]


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
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="workers of the Dask LocalCluster (1 thread each)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine step")
    parser.add_argument("--score-repeat", type=int, default=3, help="timed scoring passes")
    parser.add_argument("--n-boot", type=int, default=50, help="bootstrap replicates (train)")
    parser.add_argument(
        "--train-months",
        type=int,
        default=None,
        help="vbsp-risk train --train-months (default: all months)",
    )
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
        print(
            f"{name:<22} wall {f['wall_s']:8.1f} s   peak main {f['peak_main_mb']:7.0f} MB   "
            f"tree {f['peak_tree_mb']:7.0f} MB",
            flush=True,
        )

    if "simulate" in steps and not (data / "manifest.json").exists():
        record("simulate", [run_step(["--step", "simulate", "--data", str(data), *common])])

    def repeated(step: str, engine: str, *more: str) -> None:
        """``step`` on ``engine``, ``--repeat`` times, recorded as ``step/engine``."""
        cmd = ["--step", step, "--engine", engine, "--data", str(data), *common, *more]
        record(f"{step}/{engine}", [run_step(cmd) for _ in range(args.repeat)])

    for engine in args.engines.split(","):
        if "features" in steps:
            repeated("features", engine, "--out", str(work / f"portfolio-{engine}.parquet"))
        if "materialize" in steps:
            repeated("materialize", engine, "--out", str(work / f"store-{engine}.db"))
        if "train" in steps:
            keep = ["--out", str(work / f"model-{engine}")]
            repeated("train", engine, "--features", str(table), *keep)
        if "score" in steps:  # the local engine's model when there is one (the same for both)
            if not model.is_dir() and (work / "model-dask").is_dir():
                model = work / "model-dask"
            repeated("score", engine, "--features", str(table), "--model", str(model))

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
        print(
            json.dumps(
                {"households": args.households, "workers": args.workers, "figures": figures},
                indent=2,
            )
        )
        return
    print(
        f"\n{args.households:,} households, Dask LocalCluster of {args.workers} worker(s) "
        f"x 1 thread, {os.cpu_count()} cores; median of {args.repeat} run(s)"
    )
    print(
        f"{'step':<12} {'local s':>9} {'dask s':>9} {'dask/local':>10} "
        f"{'local peak MB':>14} {'dask tree MB':>13}"
    )
    for step in ("features", "materialize", "train", "score"):
        a, b = figures.get(f"{step}/local"), figures.get(f"{step}/dask")
        if a and b:
            print(
                f"{step:<12} {a['wall_s']:9.1f} {b['wall_s']:9.1f} "
                f"{b['wall_s'] / a['wall_s']:10.2f} {a['peak_tree_mb']:14.0f} "
                f"{b['peak_tree_mb']:13.0f}"
            )
    if "simulate" in figures:
        s = figures["simulate"]
        print(f"simulate     {s['wall_s']:9.1f} s, peak {s['peak_tree_mb']:.0f} MB")
    hh = args.households
    for step in ("features", "materialize", "train"):
        for eng in ("local", "dask"):
            f = figures.get(f"{step}/{eng}")
            if f:
                print(
                    f"  {step}/{eng}: {1e3 * f['wall_s'] / hh:.2f} ms per household"
                    + (f", {f['rows']:,} rows" if "rows" in f else "")
                )
    t = figures.get("train/local"), figures.get("train/dask")
    for name, f in zip(("local", "dask"), t, strict=True):
        if f:
            print(
                f"  train/{name}: {f['train_rows_used']:,} of {f['train_window_rows']:,} "
                f"training-window rows (train months {f['train_months'] or 'all'}); "
                f"fit_lightgbm {f['stage_seconds']['fit_lightgbm']:.1f} s, "
                f"backtest {f['backtest_seconds']:.1f} s, {f['num_boost_round']} rounds, "
                f"ROC AUC {f['roc_auc']:.3f}, PR AUC {f['pr_auc']:.3f}, "
                f"capture top10 {f['capture_top10']:.3f}"
            )
    s = figures.get("score/local")
    if s:
        raw, n = s["raw1"], s["rows"]
        print(
            f"score ({n:,} rows, {s['trees']} trees); time / raw Booster.predict (1 thread, "
            f"{n / raw:,.0f} rows/s, same commune matrices, same run):"
        )
        lines = [
            ("raw predict, 2 threads", s["raw2"]),
            ("matrix alone (fast_matrix)", s["matrix"]),
            ("in memory, probability", s["probability"]),
            ("in memory, score rows", s["score_rows"]),
            ("paired, read + probability", s["read"] + s["probability"]),
            ("paired, read + score rows", s["read"] + s["score_rows"]),
            ("local, Parquet, probability", s["probability_s"]),
            ("local, Parquet, score rows", s["gathered_s"]),
            ("local, parts written", s["parts_s"]),
            ("local, parts: score time", s["worker_score_s"]),
        ]
        d = figures.get("score/dask")
        if d:
            lines += [
                ("dask, Parquet, probability", d["probability_s"]),
                ("dask, Parquet, score rows", d["gathered_s"]),
                ("dask, parts written (wall)", d["parts_s"]),
                ("dask, parts: worker score time", d["worker_score_s"]),
                (
                    "dask, parts: worker read+score+write",
                    d["worker_read_s"] + d["worker_score_s"] + d["worker_write_s"],
                ),
            ]
            r = d["worker_paired_raw1"]
            print(
                f"  on the workers, paired per commune: raw predict {n / r:,.0f} rows/s; score "
                f"rows x{d['worker_paired_score_rows'] / r:.2f}, read + score rows "
                f"x{(d['worker_paired_read'] + d['worker_paired_score_rows']) / r:.2f}"
            )
        for label, sec in lines:
            print(f"  {label:<38} {n / sec:>10,.0f} rows/s  x{sec / raw:.2f}")
    if "features_identical" in figures:
        print(f"features identical between engines: {figures['features_identical']['value']}")


if __name__ == "__main__":
    main()
