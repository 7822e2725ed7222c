"""The guard in front of the app, on a hand-made ASGI app: requests above ``max_in_flight`` are
shed with 503 and ``Retry-After``; probes and ``/metrics`` are neither shed nor counted."""

from __future__ import annotations

import asyncio

from serving.metrics import Metrics
from serving.middleware import GuardMiddleware
from tests.support.event_loop import asgi_get as _get
from tests.support.event_loop import run as in_thread


def _guard(gates: dict[str, asyncio.Event]) -> GuardMiddleware:
    async def app(scope: dict, receive: object, send: object) -> None:
        if scope["path"] in gates:
            await gates[scope["path"]].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return GuardMiddleware(app, Metrics(), max_body=1000, max_in_flight=1)


def test_requests_above_the_limit_are_shed_but_probes_are_not_counted() -> None:
    async def run() -> None:
        gates = {"/v1/slow": asyncio.Event(), "/healthz": asyncio.Event()}
        guard = _guard(gates)
        probe = asyncio.create_task(_get(guard, "/healthz"))  # a probe that hangs
        await asyncio.sleep(0)
        assert guard.in_flight == 0
        slow = asyncio.create_task(_get(guard, "/v1/slow"))  # admitted despite the probe
        await asyncio.sleep(0)
        assert guard.in_flight == 1
        status, headers = await _get(guard, "/v1/other")
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert headers[b"x-request-id"]  # the id is on the guard's own answers too
        assert [(await _get(guard, p))[0] for p in ("/readyz", "/metrics")] == [200, 200]
        gates["/v1/slow"].set()
        gates["/healthz"].set()
        assert (await slow)[0] == 200 and (await probe)[0] == 200
        assert guard.in_flight == 0
        assert (await _get(guard, "/v1/other"))[0] == 200
        assert guard.metrics.shed._value.get() == 1

    in_thread(run)  # Playwright may leave a loop running in this thread
