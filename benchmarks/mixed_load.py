"""Scoring latency under heavy reads: the bulkheads' acceptance figure (issue 20, item 6).

Run on demand after ``make run`` (it serves the trained default district in ``state/``):

    .venv/bin/python benchmarks/mixed_load.py [--seconds 20] [--heavy 60] [--score-conns 4]

It starts ``vbsp-risk serve`` on a loopback port on a copy of the service database with a fresh
``data`` key, then, in one run:

1. **idle**: ``wrk`` at ``--score-conns`` connections on ``POST /v1/applications/score``;
2. **mixed**: ``wrk`` at ``--heavy`` connections on
   ``GET /v1/inspections/priorities?limit=2000`` (each answer ~1 MB: a ranked list of 2,000
   households with their reasons), and, from two seconds into it, the same scoring ``wrk`` as in
   phase 1.

Printed: for scoring idle and mixed, requests, p50 and p99 (ms), errors (non-2xx, socket errors,
timeouts) and the mixed/idle ratios; for the heavy load, requests, 2xx, shed (503), p50 and p99.
Target: scoring p99 ≤ 50 ms and 0 errors under the heavy load. ``wrk`` (C) drives both loads so
the client takes little of the machine's CPU; the figures still depend on the machine's other
load (note it beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import LUA, ensure_wrk  # noqa: E402
from benchmarks.load_shed import prepare, wrk_phase  # noqa: E402
from tests.support.live_server import SCORE, LiveServer, free_port  # noqa: E402

HEAVY = "/v1/inspections/priorities?limit=2000"
GET_LUA = 'wrk.headers["X-API-Key"] = "{key}"\n'


def wrk(binary: str, url: str, lua: Path, conns: int, seconds: int) -> dict[str, float]:
    """One ``wrk`` run (:func:`benchmarks.load_shed.wrk_phase`) with its errors summed: non-2xx,
    socket errors and timeouts."""
    base, path = url[: url.index("/", 8)], url[url.index("/", 8) :]
    stats = wrk_phase(binary, base, lua, seconds, conns, path)
    stats["errors"] = stats["non_2xx"] + stats["socket_errors"] + stats["timeouts"]
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / "state")
    parser.add_argument("--seconds", type=int, default=20, help="length of each scoring phase")
    parser.add_argument("--heavy", type=int, default=60, help="heavy connections")
    parser.add_argument("--score-conns", type=int, default=4, help="scoring connections")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra service setting, e.g. VBSP_RISK_HEAVY_THREADS=1",
    )
    args = parser.parse_args()
    binary = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="mixed-load-"))
    url, key, body = prepare(args.state, tmp, "mixed-load")
    (tmp / "post.lua").write_text(LUA.format(body=json.dumps(body), key=key))
    (tmp / "get.lua").write_text(GET_LUA.format(key=key))
    env = {
        "VBSP_RISK_STATE_DIR": str(args.state.resolve()),
        "VBSP_RISK_DATABASE_URL": url,
        "VBSP_RISK_API_KEYS_FILE": str(tmp / "keys.json"),
        "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
        **dict(e.split("=", 1) for e in args.env),
    }
    port, log = free_port(), tmp / "server.log"
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/vbsp-risk"), "serve", "--port", str(port), "--no-migrate"],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(proc, port, log)
    try:
        server.wait_ready(timeout=300)
        base = server.base
        wrk(binary, base + SCORE, tmp / "post.lua", args.score_conns, 3)  # warm-up
        idle = wrk(binary, base + SCORE, tmp / "post.lua", args.score_conns, args.seconds)
        heavy: dict[str, dict[str, float]] = {}
        load = threading.Thread(
            target=lambda: heavy.update(
                r=wrk(binary, base + HEAVY, tmp / "get.lua", args.heavy, args.seconds + 4)
            )
        )
        load.start()
        time.sleep(2)
        mixed = wrk(binary, base + SCORE, tmp / "post.lua", args.score_conns, args.seconds)
        load.join()
        h = heavy["r"]
        print(
            f"\nscoring at c={args.score_conns}, {args.seconds} s a phase; heavy load: "
            f"{args.heavy} connections on GET {HEAVY}; settings {args.env or 'default'}"
        )
        print(f"{'phase':<28}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for name, s in (("scoring idle", idle), ("scoring under heavy load", mixed)):
            print(
                f"{name:<28}{s['sent']:>9.0f}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
                f"{s['errors']:>8.0f}"
            )
        print(
            f"ratio mixed/idle: p50 ×{mixed['p50_ms'] / idle['p50_ms']:.2f}, "
            f"p99 ×{mixed['p99_ms'] / idle['p99_ms']:.2f}"
        )
        print(
            f"heavy: {h['sent']:.0f} requests, {h['sent'] - h['non_2xx']:.0f} 2xx, "
            f"{h['non_2xx']:.0f} shed (503), p50 {h['p50_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms "
            f"(all answers), socket errors {h['socket_errors']:.0f}, timeouts {h['timeouts']:.0f}"
        )
        verdict = mixed["p99_ms"] <= 50 and mixed["errors"] == 0
        print(
            f"target (scoring p99 ≤ 50 ms, 0 errors under heavy load): "
            f"{'met' if verdict else 'NOT met'}"
        )
    finally:
        print(f"server exit code after SIGTERM: {server.terminate()}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
