"""Load shedding of the scoring service: normal load, a run above capacity, recovery (issue #9).

Run on demand after ``make run`` (it serves the trained default district in ``state/``):

    .venv/bin/python benchmarks/load_shed.py [--port 8123] [--seconds 15] [--over 256]

It starts ``vbsp-risk serve`` on a loopback port on a copy of the service database with a fresh
``data`` key and ``VBSP_RISK_MAX_IN_FLIGHT`` (default 64, the service's default), then:

1. **normal load**: ``wrk`` at concurrency 8 on ``POST /v1/applications/score`` (the serving
   issue's target: p99 ≤ 25 ms at concurrency 8);
2. **above capacity**: ``--over`` concurrent connections (an asyncio client that classifies
   every answer: 2xx, 503 with and without ``Retry-After``, other 5xx, 4xx, timeouts at 10 s,
   transport errors) for the same time;
3. **recovery**: ``wrk`` at concurrency 8 again.

Printed per phase: requests sent, 2xx, 503, other 5xx, timeouts, p50 and p99 of the 2xx answers,
and the server's own count of shed requests (``vbsp_http_shed_total``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import LUA, ensure_wrk, parse_wrk  # noqa: E402
from serving.auth import add_client  # noqa: E402
from tests.serving.live_server import SCORE, LiveServer  # noqa: E402
from tests.serving.load_client import run_load, summary  # noqa: E402


def wrk_phase(wrk: str, base: str, lua: Path, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        [wrk, "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(lua), base + SCORE],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stats = parse_wrk(out)
    sent = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    stats["sent"] = float(sent.group(1)) if sent else float("nan")
    stats["timeouts"] = float(errors.group(4)) if errors else 0.0
    return stats


def shed_total(base: str) -> float:
    text = httpx.get(base + "/metrics", timeout=10).text
    m = re.search(r"^vbsp_http_shed_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / "state")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--over", type=int, default=256, help="connections above capacity")
    parser.add_argument("--max-in-flight", type=int, default=64)
    args = parser.parse_args()
    db = args.state / "service.db"
    if not db.is_file():
        sys.exit(f"{db} is missing: run `make run` first")
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="load-shed-"))
    shutil.copy(db, tmp / "service.db")
    key = add_client(tmp / "keys.json", "load", "data", None)
    url = f"sqlite:///{(tmp / 'service.db').as_posix()}"
    with sa.create_engine(url).connect() as conn:
        hid = conn.execute(sa.text(
            "SELECT entity_id FROM online_features WHERE entity_type='household' "
            "ORDER BY entity_id LIMIT 1")).scalar_one()  # fmt: skip
    body = {"household_id": hid, "program": "poor_household", "purpose": "livestock",
            "amount": 40_000_000, "term_months": 36, "grace_months": 0}  # fmt: skip
    (tmp / "post.lua").write_text(LUA.format(body=json.dumps(body), key=key))
    env = {"VBSP_RISK_STATE_DIR": str(args.state.resolve()), "VBSP_RISK_DATABASE_URL": url,
           "VBSP_RISK_API_KEYS_FILE": str(tmp / "keys.json"),
           "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
           "VBSP_RISK_MAX_IN_FLIGHT": str(args.max_in_flight)}  # fmt: skip
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/vbsp-risk"), "serve", "--port", str(args.port), "--no-migrate"],
        env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = LiveServer(proc, args.port, log)
    try:
        server.wait_ready()
        base = server.base
        rows = []
        normal = wrk_phase(wrk, base, tmp / "post.lua", args.seconds)
        rows.append(("normal (wrk, c=8)", normal, shed_total(base)))
        over = summary(run_load(base, lambda k: (body, {"X-API-Key": key}), args.over,
                                seconds=args.seconds, timeout=10))  # fmt: skip
        rows.append((f"above capacity (c={args.over})", over, shed_total(base)))
        again = wrk_phase(wrk, base, tmp / "post.lua", args.seconds)
        rows.append(("recovery (wrk, c=8)", again, shed_total(base)))
        print(f"\nmax_in_flight {args.max_in_flight}, {args.seconds} s per phase, port {args.port}")
        print(f"{'phase':<26}{'sent':>8}{'2xx':>8}{'503':>7}{'5xx*':>6}{'4xx':>5}{'t/o':>5}"
              f"{'p50 ms':>8}{'p99 ms':>8}{'shed':>7}")  # fmt: skip
        for name, s, shed in rows:
            two = s.get("2xx", s["sent"] - s.get("non_2xx", 0))
            print(f"{name:<26}{s['sent']:>8.0f}{two:>8.0f}{s.get('503', s.get('non_2xx', 0)):>7.0f}"
                  f"{s.get('other_5xx', 0):>6.0f}{s.get('4xx', 0):>5.0f}{s['timeouts']:>5.0f}"
                  f"{s['p50_ms']:>8.1f}{s['p99_ms']:>8.1f}{shed:>7.0f}")  # fmt: skip
        print("5xx*: 5xx other than 503; wrk phases count every non-2xx under 503 (shed);")
        print(f"above capacity: 503 without Retry-After {over['503_without_retry_after']}, "
              f"transport errors {over['errors']}; target at c=8: p99 ≤ 25 ms")  # fmt: skip
    finally:
        code = server.terminate()
        print(f"server exit code after SIGTERM: {code}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
