"""Above capacity the service sheds load — 503 with ``Retry-After`` at once — instead of timing
out or erroring, and recovers when the burst is over.

A real server with ``VBSP_RISK_MAX_IN_FLIGHT=4`` gets a burst of 48 concurrent connections
(loopback only, bounded). ``benchmarks/load_shed.py`` runs the heavier version with figures.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import (
    SCORE,
    application,
    filled_sqlite,
    household_ids,
    served_env,
    start_server,
)
from tests.support.load_client import run_load, summary
from tests.support.served import Served, count_audit, headers
from vbsp_state.engine import make_engine

pytestmark = pytest.mark.system  # load shedding on a live server (make test-all)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)


def _sequential(base: str, body: dict, h: dict, n: int) -> list[httpx.Response]:
    with httpx.Client(base_url=base, timeout=30) as client:
        return [client.post(SCORE, json=body, headers=h) for _ in range(n)]


def test_burst_above_capacity_is_shed_with_503_and_the_service_recovers(
    served: Served, tmp_path: Path
) -> None:
    url = filled_sqlite(served, tmp_path)
    engine = make_engine(url)
    body = application(household_ids(url, 1)[0])
    h = headers(served, "data")
    server = start_server(served_env(served, url, max_in_flight=4), tmp_path / "server.log")
    try:
        before = _sequential(server.base, body, h, 20)
        burst = summary(run_load(server.base, lambda k: (body, h), concurrency=48, total=480))
        after = _sequential(server.base, body, h, 20)
        metrics = httpx.get(server.base + "/metrics").text
    finally:
        code = server.terminate()
    assert {r.status_code for r in before} == {200}
    assert burst["sent"] == 480
    assert burst["503"] > 0 and burst["2xx"] > 0, burst
    assert burst["503_without_retry_after"] == 0, burst
    assert burst["other_5xx"] == burst["4xx"] == burst["timeouts"] == burst["errors"] == 0, burst
    assert {r.status_code for r in after} == {200}  # recovered
    slow = statistics.median(r.elapsed.total_seconds() for r in before)
    assert statistics.median(r.elapsed.total_seconds() for r in after) < 3 * slow + 0.05
    shed = re.search(r"^\w*shed\w*_total (\S+)$", metrics, re.M)
    assert shed and float(shed.group(1)) == burst["503"], metrics[:500]
    in_flight = re.search(r"^\w*in_flight\w* (\S+)$", metrics, re.M)
    assert in_flight and float(in_flight.group(1)) == 0  # /metrics itself is not counted
    assert count_audit(engine) == 40 + burst["2xx"]  # one audit row per answered score
    assert code == 0
    engine.dispose()
