"""A longer Schemathesis run against the service on ``make run``'s district (not a test).

    .venv/bin/python benchmarks/fuzz_api.py [--examples 100] [--seed 20261127] [--role data]
                                            [--state state] [--no-coverage] [--json out.json]

The same engine, checks and case fitting as ``tests/serving/test_fuzz.py`` (every phase, every
check, seeded and derandomized), with more examples per operation, on the real district. The
service database is copied to a temporary folder (nothing is written to ``state/``) and a
temporary key of ``--role`` is used. Prints the cases per operation, the checks run and failed,
the status codes seen and every distinct failure; exits 1 on any failure or generation error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--examples", type=int, default=100, help="examples per operation and phase")
    ap.add_argument("--seed", type=int, default=None, help="default: the CI test's seed")
    ap.add_argument("--role", default="data", choices=("officer", "inspector", "data", "admin"))
    ap.add_argument("--state", type=Path, default=ROOT / "state")
    ap.add_argument("--tracking-uri", help="MLflow store (default: the state folder's)")
    ap.add_argument("--no-coverage", action="store_true", help="leave out the boundary phase")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.auth import add_client
    from serving.settings import ServiceSettings
    from tests.support.api_fuzz import SEED, fuzz

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "service.db"
        shutil.copy(args.state / "service.db", db)
        keys = Path(tmp) / "keys.json"
        key = add_client(keys, f"fuzz-{args.role}", args.role, None)
        settings = ServiceSettings(
            state_dir=args.state,
            database_url=f"sqlite:///{db.as_posix()}",
            api_keys_file=keys,
            reload_interval_seconds=0,
            bench_endpoints=True,
            tracking_uri=args.tracking_uri,
        )
        t0 = time.perf_counter()
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz")
            if ready.status_code != 200:  # every scoring case would be a 503
                print(f"the service is not ready: {ready.json()['problems']}")
                return 2
            report = fuzz(
                client.app, key, args.examples, args.seed or SEED, coverage=not args.no_coverage
            )
        seconds = time.perf_counter() - t0
    figures = {
        "examples": args.examples,
        "role": args.role,
        "seconds": round(seconds, 1),
        "cases": sum(report.cases.values()),
        "operations": len(report.cases),
        "checks": sum(report.checks.values()),
        "checks_failed": sum(n for (_, status), n in report.checks.items() if status == "failure"),
        "distinct_failures": len(report.failures),
        "generation_errors": len(report.errors),
        "cases_by_operation": dict(sorted(report.cases.items())),
        "statuses": {f"{op} {code}": n for (op, code), n in sorted(report.statuses.items())},
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    for (op, check, title), detail in sorted(report.failures.items()):
        print(f"FAILURE {op} [{check}] {title}\n  {detail[:800]}")
    for error in report.errors:
        print(f"ERROR {error[:800]}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(f"schemathesis: {report.summary()} in {seconds:.0f} s")
    return 1 if report.failures or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
