"""Server time of the priorities page and of building a visit plan, on ``make run``'s district.

Run on demand (not a test), after ``make run`` (it reads ``state/``: service database, MLflow,
data folder):

    .venv/bin/python benchmarks/bench_planner.py [--repeat 15] [--communes 4]

The service database is copied to a temporary folder (nothing is written to ``state/``); a
temporary ``data`` key signs in. For each commune it requests ``/ui/priorities?commune_id=…``
``repeat`` times through the in-process ASGI client (no network) and reports the median and 90th
percentile; beside it, the JSON ``/v1/inspections/priorities`` for the same commune (the work both
share) and ``/healthz`` (the client's and middleware's own cost: the baseline of the same run).
Then it times building and storing a plan (8 visits a day, 3 days, 10% random) per commune.
The machine is shared: read medians, and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _times(client: object, path: str, repeat: int, **kw: object) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path, **kw)  # type: ignore[attr-defined]
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return out


def _summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--state", type=Path, default=Path("state"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--communes", type=int, default=4)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from serving import clock
    from serving.app import create_app
    from serving.auth import add_client
    from serving.settings import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "service.db"
        shutil.copy(args.state / "service.db", db)
        keys = Path(tmp) / "keys.json"
        key = add_client(keys, "bench", "data", None)
        settings = ServiceSettings(
            state_dir=args.state,
            database_url=f"sqlite:///{db.as_posix()}",
            api_keys_file=keys,
            reload_interval_seconds=0,
        )
        report: dict = {"communes": {}}
        with TestClient(create_app(settings)) as client:
            client.cookies.set("vbsp_key", key, path="/ui")
            hdr = {"X-API-Key": key}
            communes = sorted(
                {
                    h["village_id"].split("-")[0]
                    for h in client.get(
                        "/v1/inspections/priorities?limit=2000", headers=hdr
                    ).json()["households"]
                }
            )[: args.communes]
            report["baseline_healthz"] = _summary(_times(client, "/healthz", args.repeat))
            for c in communes:
                _times(client, f"/ui/priorities?commune_id={c}", 2)  # warm
                page = _times(client, f"/ui/priorities?commune_id={c}", args.repeat)
                api = _times(
                    client,
                    f"/v1/inspections/priorities?commune_id={c}&limit=50",
                    args.repeat,
                    headers=hdr,
                )
                t0 = time.perf_counter()
                r = client.post(
                    "/v1/inspections/plans",
                    headers=hdr,
                    json={
                        "commune_id": c,
                        "month": clock.month_of(clock.today()),
                        "capacity_per_day": 8,
                        "days": 3,
                        "random_share": 0.1,
                        "replace": True,
                    },
                )
                plan_ms = (time.perf_counter() - t0) * 1000
                assert r.status_code == 201, r.text
                report["communes"][c] = {
                    "households": r.json()["params"]["households"],
                    "priorities_page": _summary(page),
                    "priorities_api": _summary(api),
                    "plan_build_and_store_ms": round(plan_ms, 1),
                }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
