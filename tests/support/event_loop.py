"""Run a coroutine on a fresh event loop in its own thread.

``asyncio.run`` refuses to start in a thread whose loop is running, and the browser tests'
Playwright (sync API) leaves one running in the main thread of a test worker. Also: calling a
pure-ASGI app (the guard middleware) by hand, without a server or a client (:func:`asgi_get`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60.0) -> T:
    """``asyncio.run(main())`` in a new thread; its result, or its exception re-raised."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = asyncio.run(main())
        except BaseException as err:  # handed to the caller's thread
            out["error"] = err

    thread = threading.Thread(target=target, name="test-event-loop")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the coroutine did not finish in {timeout} s")
    if "error" in out:
        raise out["error"]
    return out["result"]


async def asgi_get(
    app: Callable[..., Awaitable[None]], path: str
) -> tuple[int, dict[bytes, bytes]]:
    """``GET path`` on ``app``: the answer's status and headers."""
    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    started: dict = {}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    await app(scope, receive, send)
    return started["status"], dict(started["headers"])
