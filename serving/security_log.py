"""The security log: every refusal (401, 403, commune-scoped 404) and admin action, on record.

Each event is one log line and one ``security_events`` row naming the request id, the route
template (never the raw path: it may hold an identifier), the client and role when the key is
known, and the reason — never the key, a national ID or a value the caller sent. Rows go through
an :class:`~serving.audit_writer.AuditWriter` of their own without being waited for: a refusal is
answered at once, and the writer's group commit keeps a burst of refusals (a key scanner) to a
few transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime

from fastapi import HTTPException, Request
from sqlalchemy.engine import Connection, Engine

from serving.audit_writer import AuditWriter
from serving.auth import ApiClient
from serving.request_id import REQUEST_ID
from vbsp_state.schema import security_events

logger = logging.getLogger(__name__)


class ScopedNotFoundError(HTTPException):
    """404 for an object outside the caller's communes (answered as unknown, logged as refused)."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(404, detail)
        self.reason = reason


def _insert(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    conn.execute(security_events.insert(), list(rows))


def _route(request: Request) -> str:
    return getattr(request.scope.get("route"), "path", None) or "unmatched"


class SecurityLog:
    """Writes security events (log line now, row in the background)."""

    def __init__(self, engine: Engine) -> None:
        self._writer = AuditWriter(engine, insert=_insert)

    def record(
        self,
        request: Request,
        status: int,
        reason: str,
        client: ApiClient | None = None,
        kind: str = "refusal",
    ) -> Future:
        """Log and store one event; the future completes when its row is committed."""
        row = {
            "created_at": datetime.now(UTC).replace(tzinfo=None),
            "kind": kind,
            "status": status,
            "method": request.method[:8],
            "route": _route(request)[:200],
            "request_id": REQUEST_ID.get()[:64],
            "client_id": client.client_id if client else None,
            "role": client.role if client else None,
            "reason": reason[:200],
        }
        logger.warning(
            "security %s %d %s %s client=%s role=%s: %s",
            kind,
            status,
            row["method"],
            row["route"],
            row["client_id"] or "-",
            row["role"] or "-",
            row["reason"],
        )
        future = self._writer.submit([row])
        future.add_done_callback(_report_failure)
        return future

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._writer.close()


def _report_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("security event not stored: %s", type(future.exception()).__name__)


def caller(request: Request) -> ApiClient | None:
    """The client of the request's API key when it is valid (for the record), else ``None``."""
    key = request.headers.get("x-api-key")
    svc = getattr(request.app.state, "services", None)
    if not key or svc is None:
        return None
    try:
        return svc.clients.get(key)
    except Exception:  # the log must not turn a refusal into a 500
        logger.debug("security log: caller lookup failed", exc_info=True)
        return None


def refusal_reason(exc: HTTPException) -> str | None:
    """Why a refusal is on record (``None``: not a security event)."""
    if isinstance(exc, ScopedNotFoundError):
        return exc.reason
    if exc.status_code == 401:
        return "no valid API key"
    if exc.status_code == 403:
        detail = str(exc.detail)
        # the permission or rule named by the detail is ours (role names, field names), not input
        return f"forbidden: {detail}"
    return None


def record_refusal(request: Request, exc: HTTPException) -> None:
    """Record ``exc`` if it is a refusal; never raises."""
    reason = refusal_reason(exc)
    svc = getattr(request.app.state, "services", None)
    log = getattr(svc, "security", None)
    if reason is None or log is None:
        return
    try:
        log.record(request, exc.status_code, reason, caller(request))
    except Exception:
        logger.exception("security event not recorded")
