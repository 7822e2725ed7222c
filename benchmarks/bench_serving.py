"""Serving figures: throughput and latency of application scoring against a no-op endpoint.

Run on demand after ``make run`` (it uses the trained default district in ``state/``):

    .venv/bin/python benchmarks/bench_serving.py [--seconds 3] [--repeat 12] [--concurrency 8]

It starts ``vbsp-risk serve`` on a free loopback port with a copy of the service database (so
the benchmark's audit rows do not pollute ``state/``), a fresh ``data`` key and the benchmark
endpoint on, then drives it with ``wrk`` (Debian package ``wrk``; installed with apt-get when
missing) at the given concurrency, in short rounds that interleave the three endpoints (this machine's
speed drifts by a third within minutes, so a ratio is only meaningful between runs close in time):

* ``POST /v1/bench/noop`` — the scoring endpoint's signature (same body and its validation, same
  query and header parameters, key and role check, served model looked up) and nothing else;
* ``POST /v1/applications/score`` — feature assembly, booster, reasons and the audit write;
* ``POST /v1/applications/score?explain=false`` — the same without reasons.

Printed: median requests/s and p50/p99 latency per endpoint over the rounds; each endpoint's
requests over the no-op's in the same rounds (and the median and range of the per-round ratios);
the server's CPU time per request (user + system, from ``/proc``: with one worker at 100 % of a
core, throughput is its inverse, so this shows where a gap comes from without the host's drift);
and the issue's targets. Then the latency of
``GET /v1/inspections/priorities`` for the commune nearest the issue's ~650 households and for
the largest commune (all households), sequentially.
Medians, since the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.auth import add_client  # noqa: E402

LUA = """wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) and error counts from ``wrk --latency`` output."""

    def ms(token: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s|m)$", token).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    out["p50_ms"] = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    out["p99_ms"] = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / "state")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    db = args.state / "service.db"
    if not db.is_file():
        sys.exit(f"{db} is missing: run `make run` first")
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    shutil.copy(db, tmp / "service.db")
    key = add_client(tmp / "keys.json", "bench", "data", None)
    engine = sa.create_engine(f"sqlite:///{tmp / 'service.db'}")
    with engine.connect() as conn:
        hid, commune = conn.execute(
            sa.text(
                "SELECT entity_id, commune_id FROM online_features WHERE entity_type='household' "
                "ORDER BY entity_id LIMIT 1"
            )
        ).one()
        sizes = conn.execute(
            sa.text(
                "SELECT commune_id, COUNT(*) FROM online_features WHERE entity_type='household' "
                "GROUP BY commune_id ORDER BY COUNT(*) DESC, commune_id"
            )
        ).all()
    # the "whole commune (~650 households)", and the district's largest
    typical = min(sizes, key=lambda cs: (abs(cs[1] - 650), cs[0]))[0]
    communes = list(dict.fromkeys([typical, sizes[0][0]]))
    body = json.dumps(
        {
            "household_id": hid,
            "program": "poor_household",
            "purpose": "livestock",
            "amount": 40000000,
            "term_months": 36,
            "grace_months": 0,
        }
    )
    (tmp / "post.lua").write_text(LUA.format(body=body, key=key))
    port = free_port()
    env = {
        **os.environ,
        "VBSP_RISK_STATE_DIR": str(args.state.resolve()),
        "VBSP_RISK_DATABASE_URL": f"sqlite:///{tmp / 'service.db'}",
        "VBSP_RISK_API_KEYS_FILE": str(tmp / "keys.json"),
        "VBSP_RISK_BENCH_ENDPOINTS": "true",
        "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
        "VBSP_RISK_MAX_IN_FLIGHT": "1000",
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/vbsp-risk"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "w"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            sys.exit(f"server not ready; see {tmp / 'server.log'}")
        endpoints = {
            "noop": "/v1/bench/noop",
            "score": "/v1/applications/score",
            "score_no_reasons": "/v1/applications/score?explain=false",
        }
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in endpoints}
        for i in range(args.repeat):
            # each round runs the endpoints back to back, in reverse order every other round, so
            # a drift of the machine's speed within a round weighs on every endpoint alike
            order = list(endpoints.items()) if i % 2 == 0 else list(endpoints.items())[::-1]
            for name, path in order:
                before = cpu_seconds(server.pid)
                out = subprocess.run(
                    [
                        wrk,
                        "-t1",
                        f"-c{args.concurrency}",
                        f"-d{args.seconds}s",
                        "--latency",
                        "-s",
                        str(tmp / "post.lua"),
                        base + path,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                after = cpu_seconds(server.pid)
                run = parse_wrk(out)
                done = max(int(re.search(r"(\d+) requests in", out).group(1)), 1)
                # worker processes' CPU is not the supervisor's: counted with one worker only
                one = args.workers == 1
                run["user_us"] = (after[0] - before[0]) / done * 1e6 if one else math.nan
                run["sys_us"] = (after[1] - before[1]) / done * 1e6 if one else math.nan
                runs[name].append(run)
        med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
        total = {n: sum(r["rps"] for r in rs) for n, rs in runs.items()}
        paired = {
            n: [r["rps"] / b["rps"] for r, b in zip(rs, runs["noop"], strict=True)]
            for n, rs in runs.items()
        }
        print(
            f"\nconcurrency {args.concurrency}, {args.repeat} rounds of {args.seconds}s, "
            f"{args.workers} worker(s); medians over the rounds; 'vs noop' = the endpoint's "
            "requests over the no-op's in the same rounds (per-round ratios: median, range)"
        )
        print(
            f"{'endpoint':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs noop':>9}"
            f"{'per round':>22}{'server CPU µs/req (user+sys)':>31}"
        )
        for n, m in med.items():
            r = sorted(paired[n])
            print(
                f"{n:<18}{m['rps']:>9.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
                f"{sum(x['non_2xx'] for x in runs[n]):>9.0f}{total[n] / total['noop']:>9.1%}"
                f"{statistics.median(r):>8.1%} ({r[0]:.0%}–{r[-1]:.0%})"
                f"{m['user_us'] + m['sys_us']:>14.0f} ({m['user_us']:.0f}+{m['sys_us']:.0f})"
            )
        print("targets: score ≥ 30% of noop and p99 ≤ 25 ms; score_no_reasons ≥ 75% of noop")
        with httpx.Client(headers={"X-API-Key": key}) as client:
            for commune in communes:
                url = f"{base}/v1/inspections/priorities?commune_id={commune}&limit=2000"
                n = len(client.get(url).json()["households"])
                lat = []
                for _ in range(30):
                    t = time.perf_counter()
                    assert client.get(url).status_code == 200
                    lat.append((time.perf_counter() - t) * 1e3)
                lat.sort()
                print(
                    f"priorities, commune {commune} ({n} households): median "
                    f"{statistics.median(lat):.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} "
                    "requests (target ≤ 100 ms for ~650 households)"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
