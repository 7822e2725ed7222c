"""Bulkheads: heavy reads get their own threads and their own queue, so they cannot starve scoring.

A ranked list of 2,000 households, a plan or a page with a commune's table is tens of
milliseconds of Python (pandas, JSON, templates) holding the GIL. Run sixty of them in the
default thread pool (forty threads) and the event loop, which does the scoring, waits for the
GIL behind all of them, and a score waits for many heavy reads to finish (issue 20; figures in
docs/measurements.md). Here the heavy routes (:data:`HEAVY_PREFIXES`) are a route class of their own:

- :class:`GuardMiddleware <serving.middleware.GuardMiddleware>` admits at most
  ``heavy_max_in_flight`` of them (running or waiting) and answers the next one 503 with
  ``Retry-After`` at once; they do not count against ``max_in_flight``, so heavy traffic never
  sheds a score;
- the handlers, marked :func:`heavy`, run off the event loop in ``heavy_threads`` threads of
  their own (an ``anyio`` ``CapacityLimiter``): at most that many compete with the loop for the
  GIL, the rest wait for a token without holding anything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")
HEAVY_PREFIXES = (
    "/v1/inspections/priorities",
    "/v1/inspections/plans",
    "/ui/priorities",
    "/ui/plans",
    "/ui/households/",
)
CURRENT: ContextVar[Bulkhead | None] = ContextVar("bulkhead", default=None)


def route_class(path: str) -> str:
    """``"heavy"`` for the heavy routes' paths, ``"light"`` for every other."""
    return "heavy" if path.startswith(HEAVY_PREFIXES) else "light"


class Bulkhead:
    """The heavy class's admission count and its threads."""

    def __init__(self, threads: int, max_in_flight: int) -> None:
        self.threads = threads
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._limiter: CapacityLimiter | None = None

    @property
    def limiter(self) -> CapacityLimiter:
        """The threads' tokens (made on first use, inside the event loop)."""
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        return self._limiter

    def admit(self) -> bool:
        """Count one more heavy request in, or ``False`` when the class is full (shed it)."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        """A heavy request is done."""
        self.in_flight -= 1

    async def run(self, func: Callable[[], T]) -> T:
        """``func()`` in one of the class's threads (waiting for a token when all are busy)."""
        return await to_thread.run_sync(func, limiter=self.limiter)


def heavy(handler: Callable[..., T]) -> Callable[..., Any]:
    """Make a synchronous route handler run in the bulkhead that admitted its request.

    The route keeps its parameters (FastAPI reads them through ``__wrapped__``). Reached outside
    a heavy request (a direct call in a test), it runs in the default thread pool as FastAPI
    would run it.
    """

    @functools.wraps(handler)
    async def in_bulkhead(*args: Any, **kwargs: Any) -> T:
        return await run_heavy(functools.partial(handler, *args, **kwargs))

    in_bulkhead.heavy = True  # type: ignore[attr-defined]  (read by the bulkhead tests)
    return in_bulkhead


async def run_heavy(func: Callable[[], T]) -> T:
    """``func()`` in the threads of the bulkhead that admitted this request (the default thread
    pool outside a heavy request)."""
    bulkhead = CURRENT.get()
    return await (bulkhead.run(func) if bulkhead else to_thread.run_sync(func))
