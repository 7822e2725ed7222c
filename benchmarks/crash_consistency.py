"""``kill -9`` crash consistency of the scoring service, many cycles (issue #9).

Run on demand after ``make run`` (it serves the trained default district in ``state/``):

    .venv/bin/python benchmarks/crash_consistency.py [--cycles 50] [--threads 4] [--postgres 1]

Each cycle starts ``vbsp-risk serve`` on a free loopback port on a copy of the service database
(SQLite, WAL; ``state/`` is not written), retries with the same ``Idempotency-Key`` the requests
of the previous cycle that got no answer (and a few that did), streams scoring requests with
fresh keys from several threads, and kills the server with SIGKILL at a random moment (seeded).
``--postgres N`` runs N more cycles on a throw-away PostgreSQL database (online store and
portfolio scores copied from the SQLite copy) when a server is reachable.

Printed per back end: requests sent, 2xx, 4xx, 5xx, no response (in flight at the kill, or
refused while down), truncated, timeouts, requests answered 200 whose audit row is missing
(rows lost) or differs, retries that found their first attempt committed, replays differing,
cycles survived and ``PRAGMA integrity_check``. The cycle logic is ``tests/support/crash_cycles.py``
(``tests/serving/test_crash.py`` runs three cycles in ``make test``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.auth import add_client  # noqa: E402
from tests.support.crash_cycles import CrashReport, check, run_cycles  # noqa: E402
from tests.support.db_engines import pg_server_url, postgres_engine  # noqa: E402
from vbsp_state.engine import make_engine  # noqa: E402
from vbsp_state.migrate import upgrade  # noqa: E402
from vbsp_state.schema import online_features, portfolio_scores  # noqa: E402


def copy_to(source: sa.engine.Engine, target: sa.engine.Engine) -> None:
    """Migrate ``target`` and copy the online store and portfolio scores into it."""
    upgrade(target)
    for table in (online_features, portfolio_scores):
        with source.connect() as src, target.begin() as dst:
            rows = [dict(r) for r in src.execute(sa.select(table)).mappings()]
            for i in range(0, len(rows), 5000):
                dst.execute(table.insert(), rows[i : i + 5000])


def show(name: str, report: CrashReport, seconds: float) -> None:
    c = report.counts()
    print(f"\n{name}: {report.cycles} kill -9 cycles in {seconds:.0f} s")
    print(
        f"  requests sent {c['sent']:,}: 2xx {c['2xx']:,}, 4xx {c['4xx']}, 5xx {c['5xx']}, "
        f"no response {c['no_response']}, truncated {c['truncated']}, timeouts {c['timeout']}, "
        f"other errors {c['error']}"
    )
    print(
        f"  rows lost {report.rows_lost}, rows differing {report.rows_differing}; "
        f"unanswered requests found committed on retry {report.unanswered_committed}; "
        f"replays {report.replays} (differing {report.replays_differing})"
    )
    print(f"  cycles survived {report.cycles}; integrity check: {report.integrity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / "state")
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres", type=int, default=1, help="cycles on PostgreSQL (0: none)")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--kill-after",
        type=float,
        nargs=2,
        default=(0.5, 3.0),
        help="the kill comes uniformly within this many seconds of streaming",
    )
    args = parser.parse_args()
    db = args.state / "service.db"
    if not db.is_file():
        sys.exit(f"{db} is missing: run `make run` first")
    tmp = Path(tempfile.mkdtemp(prefix="crash-consistency-"))
    shutil.copy(db, tmp / "service.db")
    key = add_client(tmp / "keys.json", "crash", "data", None)
    url = f"sqlite:///{(tmp / 'service.db').as_posix()}"
    engine = make_engine(url)
    with engine.connect() as conn:
        hids = (
            conn.execute(
                sa.text(
                    "SELECT entity_id FROM online_features WHERE entity_type = 'household' "
                    "ORDER BY entity_id LIMIT 200"
                )
            )
            .scalars()
            .all()
        )

    def make(k: str) -> tuple[dict, dict]:
        return (
            {
                "household_id": hids[zlib.crc32(k.encode()) % len(hids)],
                "program": "poor_household",
                "purpose": "livestock",
                "amount": 40_000_000,
                "term_months": 36,
            },
            {"X-API-Key": key},
        )

    env = {
        "VBSP_RISK_STATE_DIR": str(args.state.resolve()),
        "VBSP_RISK_DATABASE_URL": url,
        "VBSP_RISK_API_KEYS_FILE": str(tmp / "keys.json"),
        "VBSP_RISK_RELOAD_INTERVAL_SECONDS": "0",
    }
    try:
        t = time.perf_counter()
        report = run_cycles(
            env,
            engine,
            tmp / "server.log",
            make,
            args.cycles,
            args.seed,
            threads=args.threads,
            kill_after=tuple(args.kill_after),
        )
        show("SQLite (WAL)", check(report, engine), time.perf_counter() - t)
        pg = pg_server_url() if args.postgres else None
        if pg:
            for pg_engine in postgres_engine(pg):
                copy_to(engine, pg_engine)
                env["VBSP_RISK_DATABASE_URL"] = pg_engine.url.render_as_string(hide_password=False)
                t = time.perf_counter()
                report = run_cycles(
                    env,
                    pg_engine,
                    tmp / "server-pg.log",
                    make,
                    args.postgres,
                    args.seed + 1,
                    threads=args.threads,
                    kill_after=tuple(args.kill_after),
                )
                show("PostgreSQL", check(report, pg_engine), time.perf_counter() - t)
        elif args.postgres:
            print("\nPostgreSQL: no server reachable; skipped")
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
