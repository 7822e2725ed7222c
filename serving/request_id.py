"""Request ids: every answer carries ``X-Request-ID`` and the service's log lines name it.

A loan officer or an inspector who reports a failed request quotes the id from the answer (the
pages' error messages show it), and the operations team finds the log lines of that request. Ids are
made here, never taken from the caller: a caller-chosen id would be written to the logs, and
nothing stops it from holding a citizen ID number.

An id is the process's random prefix and a counter (``3f9c2a1b-2a``): unique across workers and
restarts, ordered within a process, and cheaper than a UUID on every request.
"""

from __future__ import annotations

import itertools
import logging
import os
from contextvars import ContextVar

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
"""The id of the request being handled (``-`` outside a request)."""
HEADER = b"x-request-id"


class RequestIds:
    """A source of request ids for one process."""

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._count):x}"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (for a ``%(request_id)s`` log format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Put :class:`RequestIdFilter` on the handlers of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
