"""JSON bodies with each key once: a duplicate key is a 422 naming it, not "the last one wins".

Python's ``json`` (and so FastAPI) keeps the last of two equal keys: ``{"household_id": <C02's>,
"household_id": <C01's>}`` was scored as C01, while a proxy or a log reader that keeps the first
sees C02. A body whose meaning depends on the parser is refused instead. The check runs where
FastAPI parses the body (:class:`StrictJsonRoute`), so the error is an ordinary validation error
(``json_invalid``, its message starting with :data:`DUPLICATE_KEY`), worded by
:mod:`serving.error_handlers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

DUPLICATE_KEY = "duplicate key: "


class DuplicateKeyError(json.JSONDecodeError):
    """A key appears twice in one object (a decode error, so FastAPI answers it as one)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(DUPLICATE_KEY + key, "", 0)
        out[key] = value
    return out


def loads(body: bytes) -> Any:
    """Parse a JSON body, refusing duplicate keys.

    Raises:
        json.JSONDecodeError: Invalid JSON, or :class:`DuplicateKeyError`.
    """
    return json.loads(body, object_pairs_hook=_unique_pairs)


class StrictJsonRequest(Request):
    """A request whose ``json()`` refuses duplicate keys."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An API route parsing its JSON body with :class:`StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
