"""Load shedding of the scoring service: normal load, a run above capacity, recovery (issue #9).

Run on demand after ``make run`` (it serves the trained default district in ``state/``):

    .venv/bin/python benchmarks/load_shed.py [--port 8123] [--seconds 15] [--over 256]

It starts ``vbsp-risk serve`` on a loopback port on a copy of the service database with a fresh
``data`` key and ``VBSP_RISK_MAX_IN_FLIGHT`` (default 64, the service's default), then:

1. **normal load**: ``wrk`` at concurrency 8 on ``POST /v1/applications/score`` (the serving
   issue's target: p99 ≤ 25 ms at concurrency 8);
2. **above capacity**: ``wrk`` at ``--over`` connections (timeout 10 s); its non-2xx answers are
   compared with the server's own count of shed requests (``vbsp_http_shed_total``, 503 only);
3. **above capacity, classified**: an asyncio client on ``--over`` connections sends
   ``--classified`` requests and classifies every answer (2xx, 503 with and without
   ``Retry-After``, other 5xx, 4xx, timeouts at 10 s, transport errors); it is slower than wrk
   (Python), so its latencies are its own queueing and are not printed;
4. **recovery**: ``wrk`` at concurrency 8 again.

Printed per phase: requests sent, 2xx, 503 (shed), other 5xx, 4xx, timeouts, p50 and p99 (ms;
for wrk over every answer, for the classified phase over the 2xx), and the shed counter.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import LUA, ensure_wrk, parse_wrk  # noqa: E402
from serving.auth import add_client  # noqa: E402
from tests.support.live_server import SCORE, LiveServer, household_ids  # noqa: E402
from tests.support.load_client import run_load, summary  # noqa: E402
from tests.support.scoring_requests import application  # noqa: E402


def wrk_phase(
    wrk: str, base: str, lua: Path, seconds: int, conns: int = 8, path: str = SCORE
) -> dict[str, float]:
    threads = "-t1" if conns <= 8 else "-t2"
    out = subprocess.run(
        [
            wrk,
            threads,
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            base + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stats = parse_wrk(out)
    sent = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    stats["sent"] = float(sent.group(1)) if sent else float("nan")
    stats["timeouts"] = float(errors.group(4)) if errors else 0.0
    stats["socket_errors"] = sum(float(g) for g in errors.groups()[:3]) if errors else 0.0
    return stats


def prepare(state: Path, tmp: Path, client_id: str) -> tuple[str, str, dict]:
    """A copy of the service database in ``tmp``, a new ``data`` key, and a scoring body."""
    db = state / "service.db"
    if not db.is_file():
        sys.exit(f"{db} is missing: run `make run` first")
    shutil.copy(db, tmp / "service.db")
    key = add_client(tmp / "keys.json", client_id, "data", None)
    url = f"sqlite:///{(tmp / 'service.db').as_posix()}"
    return url, key, application(household_ids(url, 1)[0])


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
    parser.add_argument("--classified", type=int, default=2000, help="requests of phase 3")
    args = parser.parse_args()
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="load-shed-"))
    url, key, body = prepare(args.state, tmp, "load")
    (tmp / "post.lua").write_text(LUA.format(body=json.dumps(body), key=key))
    env = {
        "VBSP_RISK_STATE_DIR": str(args.state.resolve()),
        "VBSP_RISK_DATABASE_URL": url,
        "VBSP_RISK_API_KEYS_FILE": str(tmp / "keys.json"),
        "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
        "VBSP_RISK_MAX_IN_FLIGHT": str(args.max_in_flight),
    }
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/vbsp-risk"), "serve", "--port", str(args.port), "--no-migrate"],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(proc, args.port, log)
    try:
        server.wait_ready()
        base = server.base
        rows = []
        normal = wrk_phase(wrk, base, tmp / "post.lua", args.seconds)
        rows.append(("normal (wrk, c=8)", normal, shed_total(base)))
        shed0 = rows[-1][2]
        over_wrk = wrk_phase(wrk, base, tmp / "post.lua", args.seconds, args.over)
        rows.append((f"above capacity (wrk, c={args.over})", over_wrk, shed_total(base)))
        shed_wrk = rows[-1][2] - shed0
        over = summary(
            run_load(
                base,
                lambda k: (body, {"X-API-Key": key}),
                args.over,
                total=args.classified,
                timeout=10,
            )
        )
        over["p50_ms"] = over["p99_ms"] = float("nan")  # client-bound (Python), not the server's
        rows.append((f"classified (c={args.over})", over, shed_total(base)))
        again = wrk_phase(wrk, base, tmp / "post.lua", args.seconds)
        rows.append(("recovery (wrk, c=8)", again, shed_total(base)))
        print(
            f"\nmax_in_flight {args.max_in_flight}, {args.seconds} s per wrk phase, port {args.port}"
        )
        print(
            f"{'phase':<30}{'sent':>7}{'2xx':>7}{'503':>7}{'5xx*':>6}{'4xx':>5}{'t/o':>5}"
            f"{'p50 ms':>8}{'p99 ms':>8}{'shed':>7}"
        )
        for name, s, shed in rows:
            two = s.get("2xx", s["sent"] - s.get("non_2xx", 0))
            print(
                f"{name:<30}{s['sent']:>7.0f}{two:>7.0f}{s.get('503', s.get('non_2xx', 0)):>7.0f}"
                f"{s.get('other_5xx', 0):>6.0f}{s.get('4xx', 0):>5.0f}{s['timeouts']:>5.0f}"
                f"{s['p50_ms']:>8.1f}{s['p99_ms']:>8.1f}{shed:>7.0f}"
            )
        print("5xx*: 5xx other than 503; shed: the server's vbsp_http_shed_total after the phase")
        print(
            f"wrk above capacity: {over_wrk['non_2xx']:.0f} non-2xx, the server shed "
            f"{shed_wrk:.0f} (503) in that phase; socket errors "
            f"{over_wrk['socket_errors']:.0f}"
        )
        print(
            f"classified: 503 without Retry-After {over['503_without_retry_after']}, "
            f"transport errors {over['errors']}; target at c=8: p99 ≤ 25 ms"
        )
    finally:
        code = server.terminate()
        print(f"server exit code after SIGTERM: {code}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
