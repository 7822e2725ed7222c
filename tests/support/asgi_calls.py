"""Calling a pure-ASGI app (the guard middleware) by hand, without a server or a client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


async def get(app: Callable[..., Awaitable[None]], path: str) -> tuple[int, dict[bytes, bytes]]:
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
