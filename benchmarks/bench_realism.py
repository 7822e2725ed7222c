"""The simulator's stylized facts beside their documented ranges, for several seeds.

Run on demand (not a test; about a minute a seed on 2 cores):

    .venv/bin/python benchmarks/bench_realism.py [--seeds 20251231 11 23] [--households 8500]

Each seed's default district is simulated into a temporary folder, then
:func:`features.simulator.realism.realism_report` computes the facts; ``docs/simulator.md`` gives
each fact's range and source. Exits 1 when a fact falls outside its range on any seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from features import storage
from features.contract import TRUTH_DIR
from features.simulator import SimConfig, simulate
from features.simulator.realism import realism_report
from features.summary import summarize
from features.validation import load_tables

HEADLINE = (
    "outstanding_vnd",
    "overdue_ratio",
    "interest_collection_12m",
    "groups_good_share",
    "extensions_12m",
    "borrower_households",
)


def one_seed(seed: int, households: int) -> tuple[pd.Series, dict[str, object]]:
    """Facts and headline figures of one simulated district."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "d"
        wall, cpu = time.perf_counter(), time.process_time()
        simulate(out, replace(SimConfig(), seed=seed, households=households))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tables = load_tables(out)
        report = realism_report(tables, pd.read_parquet(out / TRUTH_DIR))
        export = pd.Timestamp(storage.read_manifest(out)["export_date"])
        summary = summarize(tables, export)
    heads = {k: summary[k] for k in HEADLINE}
    heads.update(
        extension_share=report.set_index("fact")["value"]["extension_share"],
        simulate_wall_s=round(wall, 1),
        simulate_cpu_s=round(cpu, 1),
    )
    return report.set_index("fact")["value"], heads


def main() -> None:
    """Print the table and exit 1 if a fact is out of its range."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[20251231, 11, 23])
    ap.add_argument("--households", type=int, default=8_500)
    args = ap.parse_args()
    facts = realism_report.__globals__["FACTS"]
    values, heads = {}, {}
    for seed in args.seeds:
        values[seed], heads[seed] = one_seed(seed, args.households)
        print(f"seed {seed} done", flush=True)
    table = pd.DataFrame(values)
    table.insert(0, "range", [f"{f.low:g}–{f.high:g}" for f in facts])
    ok = pd.DataFrame(
        {s: [f.low <= table.at[f.name, s] <= f.high for f in facts] for s in args.seeds},
        index=table.index,
    )
    table["all in range"] = ok.all(axis=1)
    pd.set_option("display.width", 200)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    print(pd.DataFrame(heads).to_string())
    sys.exit(0 if ok.to_numpy().all() else 1)


if __name__ == "__main__":
    main()
