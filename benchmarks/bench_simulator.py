"""Simulator wall time and peak memory: default district vs. a 100,000-household province.

Run on demand (not a test):  .venv/bin/python benchmarks/bench_simulator.py [--repeat 3] [--big 100000]

Each simulation runs in a fresh process that reports its own peak RSS. The default district is
the baseline measured in the same run; the big run is reported as ratios to it (time per
household, memory), since this machine is shared and noisy: medians of ``--repeat`` runs, wall
and CPU (user + system, imports included: on a loaded machine CPU says more than wall).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from features.simulator import SimConfig, simulate
n, out = int(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
simulate(out, SimConfig(households=n))
wall = time.perf_counter() - t0
size = sum(p.stat().st_size for p in out.rglob('*') if p.is_file())
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": wall, "cpu_s": use.ru_utime + use.ru_stime, "peak_rss_mb": use.ru_maxrss / 1024,
                  "bytes": size}))
"""


def run_once(households: int) -> dict:
    """Simulate ``households`` in a child process; return wall time, peak RSS and size."""
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(
            [sys.executable, "-c", CHILD, str(households), str(Path(tmp) / "d")],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", type=int, default=8_500)
    ap.add_argument("--big", type=int, default=100_000)
    args = ap.parse_args()
    rows = {}
    for n, reps in ((args.base, args.repeat), (args.big, max(1, args.repeat // 3))):
        runs = [run_once(n) for _ in range(reps)]
        rows[n] = {
            "runs": reps,
            "wall_s_median": statistics.median(r["wall_s"] for r in runs),
            "cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "size_mb": runs[0]["bytes"] / 1e6,
        }
        print(
            f"households={n:>7,}  runs={reps}  wall(median)={rows[n]['wall_s_median']:7.1f} s  "
            f"CPU(median)={rows[n]['cpu_s_median']:7.1f} s  "
            f"peak RSS={rows[n]['peak_rss_mb_max']:7.0f} MB  on disk={rows[n]['size_mb']:7.1f} MB",
            flush=True,
        )
    b, g = rows[args.base], rows[args.big]
    print(
        f"ratio big/base: households x{args.big / args.base:.1f}, wall x{g['wall_s_median'] / b['wall_s_median']:.1f}, "
        f"peak memory x{g['peak_rss_mb_max'] / b['peak_rss_mb_max']:.2f}"
    )


if __name__ == "__main__":
    main()
