"""Error answers of the API: what is wrong and where, never the input itself, never a trace.

Every handler answers a :class:`~serving.schemas.Problem` body. Inputs are not echoed back (a
caller may have typed a name or a citizen ID anywhere); a made-up key is named only when it looks
like a field name; logs name the route template and the fields, never values or raw paths.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from serving.scoring import ApplicationRejectedError, UnknownEntityError
from serving.security_log import record_refusal
from serving.strict_json import DUPLICATE_KEY

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
MAX_ERRORS = 20
"""Errors listed in one answer: a body of thousands of unknown keys gets a small answer."""


def _field(loc: tuple) -> str:
    # A name the client made up (an unknown key) is shown only if it looks like a field name.
    return ".".join(
        str(p) if isinstance(p, int) or _NAME.fullmatch(str(p)) else "<key>" for p in loc
    )


def _route(request: Request) -> str:
    """The matched route's template (never the raw path: it may hold an identifier)."""
    return getattr(request.scope.get("route"), "path", None) or "unmatched"


def _problem(status: int, field: str, message: str, kind: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"invalid request: {field}: {message}",
            "errors": [{"field": field, "message": message, "type": kind}],
        },
        status,
    )


def _not_json(request: Request, exc: RequestValidationError) -> bool:
    """A body sent without a JSON content type (missing or another), to a route taking JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    if kind:
        return not (kind == "application/json" or kind.endswith("+json"))
    return any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())


def _error(e: dict) -> dict[str, str]:
    """One error entry; a duplicate key is named (when it looks like a field name)."""
    error = str((e.get("ctx") or {}).get("error", ""))
    if e.get("type") == "json_invalid" and error.startswith(DUPLICATE_KEY):
        name = error.removeprefix(DUPLICATE_KEY)
        shown = name if _NAME.fullmatch(name) else "<key>"
        message = f"duplicate key {shown!r}: each key may appear once in an object"
        return {"field": f"body.{shown}", "message": message, "type": "duplicate_key"}
    return {
        "field": _field(e.get("loc", ())),
        "message": e.get("msg", ""),
        "type": e.get("type", ""),
    }


async def _unparsable(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not text (FastAPI's bare 400) is an invalid body like any other."""
    return _problem(
        422, "body", "not parseable JSON (not UTF-8, or nested too deeply)", "json_invalid"
    )


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    if _not_json(request, exc):
        logger.info("rejected %s %s: 415 not JSON", request.method, _route(request))
        return _problem(415, "header.content-type", "must be application/json", "media_type")
    found = exc.errors()
    errors = [_error(e) for e in found[:MAX_ERRORS]]
    fields = ", ".join(e["field"] for e in errors[:5])
    logger.info("rejected %s %s: 422 %s", request.method, _route(request), fields)
    body: dict = {"detail": f"invalid request: {fields}", "errors": errors}
    if len(found) > MAX_ERRORS:
        body["more_errors"] = len(found) - MAX_ERRORS
    return JSONResponse(body, 422)


async def _http(request: Request, exc: HTTPException) -> Response:
    """FastAPI's answer, after putting a refusal (401, 403, scoped 404) on record."""
    record_refusal(request, exc)  # type: ignore[arg-type]
    return await http_exception_handler(request, exc)


async def _rejected(request: Request, exc: ApplicationRejectedError) -> JSONResponse:
    logger.info("rejected %s %s: 422 rule", request.method, _route(request))
    errors = [{"field": "body", "message": p, "type": "rule"} for p in exc.problems]
    return JSONResponse({"detail": "; ".join(exc.problems), "errors": errors}, 422)


async def _unknown(request: Request, exc: UnknownEntityError) -> JSONResponse:
    logger.info("unknown entity on %s %s: 404", request.method, _route(request))
    return JSONResponse({"detail": str(exc)}, 404)


async def _not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 listing every method of the path (Starlette names only the first route's)."""
    methods = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and route.methods and regex.match(request.url.path):
            methods |= route.methods
    allow = ", ".join(sorted(methods))
    return JSONResponse({"detail": "method not allowed"}, 405, headers={"Allow": allow})


async def _db_busy(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable on %s: %s", _route(request), type(exc).__name__)
    return JSONResponse(
        {"detail": "database busy or unreachable; retry shortly"}, 503, headers={"Retry-After": "2"}
    )


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error on %s: %s", _route(request), type(exc).__name__)
    return JSONResponse({"detail": "internal error"}, 500)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(400, _unparsable)
    app.add_exception_handler(405, _not_allowed)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ApplicationRejectedError, _rejected)
    app.add_exception_handler(UnknownEntityError, _unknown)
    app.add_exception_handler(OperationalError, _db_busy)
    app.add_exception_handler(DBAPIError, _db_busy)
    app.add_exception_handler(Exception, _internal)
