"""Security headers on every response, as a pure-ASGI middleware (a few microseconds a request).

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
  and ``Cross-Origin-Resource-Policy: same-origin`` everywhere;
- ``Cache-Control: no-store`` on everything but ``/static`` (scores, reasons and plans are
  personal-risk data: no browser or proxy may keep a copy);
- a ``Content-Security-Policy`` that allows nothing and no framing on the JSON API (the pages set
  their own, stricter than a default, in :mod:`serving.web.render`; ``/docs`` and ``/redoc`` load
  their scripts from a CDN and keep FastAPI's page);
- ``Strict-Transport-Security`` when the request came over HTTPS.

A header a handler set itself is left as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
HSTS = (b"strict-transport-security", b"max-age=31536000")
DOCS = ("/docs", "/redoc")


def headers_for(path: str, https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers a response to ``path`` gets (unless it set them itself)."""
    extra: list[tuple[bytes, bytes]] = list(ALWAYS)
    if not path.startswith("/static/"):
        extra.append(NO_STORE)
    if not path.startswith(("/ui", "/static/", *DOCS)) and path != "/":
        extra.append(API_CSP)
    if https:
        extra.append(HSTS)
    return tuple(extra)


class SecurityHeadersMiddleware:
    """Add :func:`headers_for` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"], scope.get("scheme") == "https")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(n, v) for n, v in extra if n not in present]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
