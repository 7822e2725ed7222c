"""A pure-ASGI guard in front of the app: load shedding per route class, body size bound, request
metrics, and the request id (``X-Request-ID`` on every answer, ``request_id`` on every log line).

Pure ASGI (not ``BaseHTTPMiddleware``) to keep its cost per request to a few microseconds.
Above ``max_in_flight`` concurrent requests the service answers 503 with ``Retry-After`` at once
instead of queueing until clients time out (health probes and ``/metrics`` are never shed and
not counted; heavy reads are admitted by their own :class:`~serving.bulkhead.Bulkhead` and not
counted either, so they cannot shed a score); bodies over ``max_body_bytes`` get 413 before any handler runs (the body is read
here, bounded, and replayed to the app).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.bulkhead import CURRENT, Bulkhead, route_class
from serving.metrics import Metrics
from serving.request_id import HEADER, REQUEST_ID, RequestIds

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UNGUARDED = ("/healthz", "/readyz", "/metrics")


async def _answer(send: Send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Shed load, bound bodies and record metrics for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body: int,
        max_in_flight: int,
        heavy: Bulkhead | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.heavy = heavy or Bulkhead(threads=2, max_in_flight=max_in_flight)
        self.request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        rid = self.request_ids()
        token = REQUEST_ID.set(rid)
        rid_header = (HEADER, rid.encode())

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        # probes and /metrics are neither shed nor counted: a burst of them must not push
        # scoring requests into 503; heavy reads are counted in their own class (bulkhead)
        heavy = route_class(scope["path"]) == "heavy"
        counted = scope["path"] not in UNGUARDED and not heavy
        full = self.in_flight >= self.max_in_flight if counted else heavy and not self.heavy.admit()
        if full:
            self.metrics.shed.inc()
            await _answer(send_status, 503, "overloaded; retry shortly", [(b"retry-after", b"1")])
            self._record(scope, status["code"], start)
            REQUEST_ID.reset(token)
            return
        if counted:
            self.in_flight += 1
            self.metrics.in_flight.set(self.in_flight)
        bulkhead = CURRENT.set(self.heavy if heavy else None)
        try:
            body_receive = await self._bounded_body(scope, receive)
            if body_receive is None:
                await _answer(send_status, 413, f"request body larger than {self.max_body} bytes")
                return
            await self.app(scope, body_receive, send_status)
        finally:
            if counted:
                self.in_flight -= 1
                self.metrics.in_flight.set(self.in_flight)
            if heavy:
                self.heavy.release()
            CURRENT.reset(bulkhead)
            self._record(scope, status["code"], start)
            REQUEST_ID.reset(token)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """A receive that replays the body read here, or ``None`` when it is too large."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                return None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                chunks.append(b"")
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _record(self, scope: Scope, code: int, start: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(method, route, str(code)).inc()
        self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
