"""``kill -9`` of the server during a stream of scoring requests, repeated: nothing acknowledged
is lost, the SQLite database stays whole, and retries with the same ``Idempotency-Key`` (also
after a crash that happened after the first attempt was committed) write one row and get the
same answer. ``benchmarks/crash_consistency.py`` runs the same cycles 50 times."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.crash_cycles import check, run_cycles
from tests.support.live_server import application, filled_sqlite, household_ids, served_env
from tests.support.served import Served, headers
from vbsp_state.engine import make_engine

pytestmark = pytest.mark.system  # kill -9 cycles of a live server (make test-all)

CYCLES = 3


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)


def test_kill_9_cycles_lose_no_acknowledged_score(served: Served, tmp_path: Path) -> None:
    url = filled_sqlite(served, tmp_path)
    engine = make_engine(url)
    hids = household_ids(url, 50)
    h = headers(served, "data")

    def make(key: str) -> tuple[dict, dict]:  # the same body for the same key, in any process
        hid = hids[zlib.crc32(key.encode()) % len(hids)]
        return application(hid), h

    report = run_cycles(
        served_env(served, url), engine, tmp_path / "server.log", make, cycles=CYCLES, seed=9
    )
    check(report, engine)
    counts = report.counts()
    assert report.cycles == CYCLES
    assert counts["2xx"] >= 2 * CYCLES and counts["4xx"] == counts["5xx"] == 0, str(counts)
    # A kill can cut an answer being written (truncated): not acknowledged, retried next cycle.
    assert counts["timeout"] == counts["error"] == 0, str(counts)
    assert report.rows_lost == report.rows_differing == 0
    assert report.replays >= 3 and report.replays_differing == 0
    assert report.integrity == "ok"
    with engine.connect() as conn:
        dup = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM (SELECT idempotency_key FROM score_audit "
                "WHERE idempotency_key IS NOT NULL GROUP BY client_id, idempotency_key "
                "HAVING COUNT(*) > 1) d"
            )
        ).scalar_one()
    assert dup == 0
    engine.dispose()
