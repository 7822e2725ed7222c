"""Bulkheads (issue 20, item 6): heavy reads run off the event loop in threads of their own and
are shed (503, ``Retry-After``) when their class is full, while scoring is neither queued behind
them nor shed by them. Behaviour only: no timing (``benchmarks/mixed_load.py`` measures)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from serving import bulkhead
from serving.app import create_app
from serving.bulkhead import Bulkhead, route_class
from serving.metrics import Metrics
from serving.middleware import GuardMiddleware
from serving.routers import inspections
from tests.support.event_loop import asgi_get as _get
from tests.support.event_loop import run as in_thread
from tests.support.live_server import filled_sqlite
from tests.support.served import Served, headers

HEAVY = "/v1/inspections/priorities"
SCORE = "/v1/applications/score"


def _guard(gates: dict[str, asyncio.Event], heavy: int, light: int) -> GuardMiddleware:
    async def app(scope: dict, receive: object, send: object) -> None:
        if scope["path"] in gates:
            await gates[scope["path"]].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return GuardMiddleware(
        app,
        Metrics(),
        max_body=1000,
        max_in_flight=light,
        heavy=Bulkhead(threads=1, max_in_flight=heavy),
    )


def test_a_full_heavy_class_sheds_heavy_requests_only() -> None:
    async def run() -> None:
        gates = {HEAVY: asyncio.Event(), SCORE: asyncio.Event()}
        guard = _guard(gates, heavy=2, light=1)
        held = [asyncio.create_task(_get(guard, HEAVY)) for _ in range(2)]
        await asyncio.sleep(0)
        assert guard.heavy.in_flight == 2 and guard.in_flight == 0  # not counted as light
        status, head = await _get(guard, HEAVY + "?limit=2000")
        assert status == 503 and head[b"retry-after"] == b"1"
        assert (await _get(guard, "/ui/plans/P1"))[0] == 503  # pages are heavy too
        gates[SCORE].set()
        assert (await _get(guard, SCORE))[0] == 200  # scoring is not shed by heavy traffic
        gates[SCORE].clear()
        slow_score = asyncio.create_task(_get(guard, SCORE))
        await asyncio.sleep(0)
        assert (await _get(guard, SCORE))[0] == 503  # the light class sheds on its own count
        gates[HEAVY].set()
        gates[SCORE].set()
        assert [(await t)[0] for t in (*held, slow_score)] == [200, 200, 200]
        assert guard.heavy.in_flight == 0 and guard.in_flight == 0
        assert (await _get(guard, HEAVY))[0] == 200
        assert guard.metrics.shed._value.get() == 3

    in_thread(run)


def test_route_classes() -> None:
    for path in (
        HEAVY,
        "/v1/inspections/plans",
        "/v1/inspections/plans/P1",
        "/ui/priorities",
        "/ui/plans",
        "/ui/plans/P1",
        "/ui/households/H1",
    ):
        assert route_class(path) == "heavy", path
    for path in (
        SCORE,
        "/v1/applications/score-batch",
        "/v1/households/H1/risk",
        "/ui/login",
        "/v1/inspections/visits/V1/outcome",
        "/readyz",
    ):
        assert route_class(path) == "light", path


@pytest.fixture(scope="module")
def api(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a filled SQLite database, heavy reads on one thread."""
    url = filled_sqlite(served, tmp_path_factory.mktemp("bulkheads"))
    with TestClient(create_app(served.settings(url, heavy_threads=1))) as client:
        yield client


def test_every_heavy_handler_is_on_a_heavy_path(api: TestClient) -> None:
    marked = [
        c.path
        for c in iter_route_contexts(api.app.routes)
        if isinstance(c.original_route, APIRoute)
        and getattr(c.original_route.endpoint, "heavy", False)
    ]
    paths = {re.sub(r"\{[^}]+\}", "x1", p) for p in marked}
    assert {HEAVY, "/v1/inspections/plans", "/ui/priorities", "/ui/plans/x1"} <= paths
    assert all(route_class(p) == "heavy" for p in paths), paths


def test_heavy_reads_run_off_the_loop_in_their_own_threads(
    api: TestClient, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict] = []
    real = inspections.priorities

    def spy(*args: object, **kwargs: object) -> object:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        bh = bulkhead.CURRENT.get()
        seen.append(
            {
                "on_loop": on_loop,
                "tokens": bh and bh.limiter.total_tokens,
                "borrowed": bh and bh.limiter.borrowed_tokens,
            }
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(inspections, "priorities", spy)
    r = api.get(HEAVY, params={"limit": 5}, headers=headers(served, "data"))
    assert r.status_code == 200 and len(r.json()["households"]) == 5
    assert seen == [{"on_loop": False, "tokens": 1, "borrowed": 1}]
    # the heavy thread hands the GIL to the event loop after 0.5 ms (Python's default: 5 ms)
    assert sys.getswitchinterval() == pytest.approx(0.0005)
