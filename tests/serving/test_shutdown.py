"""SIGTERM under load: ``vbsp-risk serve`` finishes the requests it accepted, then exits 0.

A real server process on a loopback port, eight client threads streaming scoring requests, and
SIGTERM in the middle of the stream. Every request either got a whole answer (200) or no response
at all (the listener was closed before it was read) — never a 5xx, a cut answer or a timeout —
and the audit log holds exactly one row per 200: nothing was scored and then dropped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.live_server import (
    application,
    filled_sqlite,
    household_ids,
    served_env,
    start_server,
    stream,
)
from tests.support.served import Served, count_audit, headers
from vbsp_state.engine import make_engine

pytestmark = pytest.mark.system  # SIGTERM under load on a live server (make test-all)


def test_sigterm_under_load_completes_accepted_requests_and_exits_0(
    served: Served, tmp_path: Path
) -> None:
    url = filled_sqlite(served, tmp_path)
    engine = make_engine(url)
    hids = household_ids(url, 50)
    h = headers(served, "data")

    def make(key: str) -> tuple[dict, dict]:
        hid = hids[hash(key) % len(hids)]
        return application(hid), h

    server = start_server(served_env(served, url), tmp_path / "server.log")
    stop = threading.Event()
    sent: list[float] = []
    sigterm = threading.Timer(1.5, lambda: (sent.append(time.monotonic()), server.proc.terminate()))
    deadline = threading.Timer(30, stop.set)
    sigterm.start()
    deadline.start()
    try:
        outcomes = stream(server.base, make, "term", threads=8, stop=stop)
        code = server.terminate()
    finally:
        stop.set()
        deadline.cancel()
        if server.proc.poll() is None:
            server.kill()
    kinds = Counter(o.kind for o in outcomes)
    statuses = Counter(o.status for o in outcomes if o.kind == "answered")
    log = server.log.read_text(errors="replace")
    assert kinds.keys() <= {"answered", "no_response"}, (kinds, log[-2000:])
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20  # the stream ran before and while the server was stopping
    after = [o for o in outcomes if o.status == 200 and o.ended > sent[0]]
    assert after, "no request was answered after SIGTERM: none was in flight"
    assert code == 0, log[-2000:]
    assert count_audit(engine) == statuses[200]
    assert "Finished server process" in log and "Traceback" not in log
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests never go through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
