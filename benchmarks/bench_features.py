"""Feature pipeline figures: portfolio feature table, materialize, request-time assembly.

Run on demand (not a test):

    .venv/bin/python benchmarks/bench_features.py [--households 8500 100000] [--repeat 3]

For each district size it simulates a district (not timed here), then, in a fresh process that
reports its own peak RSS, reads and validates each commune's tables and builds every month-end
portfolio snapshot's features and labels, streamed to Parquet commune by commune (the path of
``vbsp-risk features`` on a folder stored by commune). For the first size it
also times ``materialize`` into SQLite and the request-time assembly of one application's
feature vector from the online store (median over many calls), beside the store read alone as
the baseline of the same run. Medians and ratios, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SIMULATE = """
import sys
from pathlib import Path
from features.simulator import SimConfig, simulate
simulate(Path(sys.argv[2]), SimConfig(households=int(sys.argv[1])))
"""

FEATURES = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
from features.build import partitioned_feature_table, write_feature_table
data, out = Path(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
pieces, export = partitioned_feature_table(data, "portfolio")
rows = write_feature_table(pieces, out)
t2 = time.perf_counter()
print(json.dumps({"wall_s": t2 - t0, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SERVING = """
import json, statistics, sys, time
from pathlib import Path
from features import storage
from vbsp_state.engine import make_engine
from features.online_store import assemble_vector, default_as_of, fetch, materialize
from features.validation import load_tables
data, db = Path(sys.argv[1]), sys.argv[2]
tables = load_tables(data)
engine = make_engine(f"sqlite:///{db}")
t0 = time.perf_counter()
n = materialize(tables, engine, default_as_of(storage.read_manifest(data)["export_date"]))
mat = time.perf_counter() - t0
ids = tables["households"]["household_id"].sample(200, random_state=0).tolist()
app = {"program": "poor_household", "purpose": "livestock", "amount": 50_000_000, "term_months": 60,
       "grace_months": 0}
read, full = [], []
for _ in range(5):
    for hh in ids:
        a = time.perf_counter(); row = fetch(engine, household_id=hh); b = time.perf_counter()
        if row is not None:
            assemble_vector(row, app)
        c = time.perf_counter()
        read.append(b - a); full.append(c - a)
print(json.dumps({"materialize_s": mat, "rows": n, "read_ms": statistics.median(read) * 1e3,
                  "assemble_ms": statistics.median(full) * 1e3}))
"""


def _child(code: str, *args: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--households", type=int, nargs="+", default=[8_500, 100_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs of the smallest size (larger: 1)")
    args = ap.parse_args()
    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(args.households):
            data = Path(tmp) / f"d{n}"
            subprocess.run([sys.executable, "-c", SIMULATE, str(n), str(data)], check=True)
            runs = [
                _child(FEATURES, str(data), str(Path(tmp) / "f.parquet"))
                for _ in range(args.repeat if i == 0 else 1)
            ]
            med = {"wall_s": statistics.median(r["wall_s"] for r in runs)}
            results[n] = {
                **med,
                "rows": runs[0]["rows"],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
            r = results[n]
            print(
                f"households={n:>7,}  snapshots={r['rows']:>10,}  "
                f"read+validate+features+labels by commune: wall={r['wall_s']:6.1f} s  "
                f"peak RSS={r['peak_rss_mb']:7.0f} MB  (runs={len(runs)}, medians)",
                flush=True,
            )
            if i == 0:
                s = _child(SERVING, str(data), str(Path(tmp) / "store.db"))
                print(
                    f"materialize: {s['rows']:,} rows in {s['materialize_s']:.1f} s;  one application vector: "
                    f"store read {s['read_ms']:.3f} ms, read + assemble {s['assemble_ms']:.3f} ms (median), "
                    f"assembly overhead x{s['assemble_ms'] / s['read_ms']:.1f} of the read",
                    flush=True,
                )
            shutil_rm(data)
    sizes = sorted(results)
    if len(sizes) > 1:
        a, b = results[sizes[0]], results[sizes[-1]]
        print(
            f"ratio {sizes[-1]:,}/{sizes[0]:,}: households x{sizes[-1] / sizes[0]:.1f}, "
            f"wall x{b['wall_s'] / a['wall_s']:.1f}, "
            f"peak memory x{b['peak_rss_mb'] / a['peak_rss_mb']:.1f}"
        )


def shutil_rm(path: Path) -> None:
    """Remove a simulated district to keep disk use bounded."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
