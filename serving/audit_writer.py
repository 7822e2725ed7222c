"""Group commit of audit rows: one writer thread, one transaction for whatever is waiting.

A scoring request hands its rows to :meth:`AuditWriter.submit` and waits for the returned future
before it answers, so every answered score has its row (nothing acknowledged is lost). While one
transaction commits, the rows of other requests queue up and go into the next transaction
together, so the commit's cost is shared — the reason one writer beats a thread per request on
SQLite (one writer at a time anyway) and PostgreSQL alike. A batch that fails (a duplicate
idempotency key, say) is retried request by request, so one bad request fails alone.

A request on the event loop waits with :meth:`AuditWriter.write`: the thread settles every
such waiter of a transaction in one callback on the loop, not one callback per request (each
callback woke the loop and traded the GIL with it, and the loop sat idle between them).

The thread keeps one connection open between transactions (checking one out of the pool for
every commit cost more CPU than the insert, and that CPU competes with the event loop for the
GIL); after an error the connection is closed and the next transaction opens a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy.engine import Connection, Engine

from serving import audit

logger = logging.getLogger(__name__)

MAX_BATCH = 256
_STOP = object()


class AuditWriter:
    """A single background thread writing audit rows in group commits."""

    def __init__(
        self,
        engine: Engine,
        insert: Callable[[Connection, Sequence[Mapping[str, object]]], None] = audit.write,
    ) -> None:
        """``insert`` writes a batch's rows on an open transaction (default: score audit rows;
        the security log passes its own table's)."""
        self.engine = engine
        self._insert = insert
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._conn: Connection | None = None  # used by the writer thread only

    def submit(self, rows: Sequence[Mapping[str, object]]) -> Future:
        """Queue one request's rows; the future completes when they are committed (or fails)."""
        future: Future = Future()
        self._put(list(rows), future)
        return future

    async def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Queue one request's rows and wait until they are committed (raises if they fail)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._put(list(rows), _LoopWaiter(loop, waiter))
        await waiter

    def _put(self, rows: list, waiter: Future | _LoopWaiter) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="audit-writer", daemon=True
                    )
                    self._thread.start()
        self._queue.put((rows, waiter))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._close_connection()
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(more)
            self._commit(batch)

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken; the pool discards it
                logger.debug("audit writer: closing a broken connection failed", exc_info=True)
            self._conn = None

    def _commit(self, batch: list[tuple[list, Future | _LoopWaiter]]) -> None:
        # A waiter that gave up (its request was cancelled) is not answered: its rows are not
        # written, and its cancelled future is not completed — that raises InvalidStateError,
        # which would end this thread and leave every later request waiting forever.
        batch = [(rows, w) for rows, w in batch if _still_waiting(w)]
        if not batch:
            return
        outcomes = self._write(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for waiter, err in outcomes:
            if isinstance(waiter, _LoopWaiter):
                by_loop.setdefault(waiter.loop, []).append((waiter.future, err))
            elif err is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(err)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(settle, settled)
            except RuntimeError:  # the loop is closed: nobody waits any more
                logger.debug("audit writer: %d waiters' loop is closed", len(settled))

    def _write(self, batch: list[tuple[list, Future | _LoopWaiter]]) -> list[tuple]:
        """Commit the batch's rows; (waiter, ``None`` or the error) for each request."""
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            with self._conn.begin():
                self._insert(self._conn, [row for rows, _ in batch for row in rows])
        except Exception as err:
            self._close_connection()
            return each_alone(batch, err, self._write)
        return [(waiter, None) for _, waiter in batch]


class _LoopWaiter:
    """A request on an event loop waiting for its rows (settled on that loop)."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        self.loop = loop
        self.future = future


def _still_waiting(waiter: Future | _LoopWaiter) -> bool:
    if isinstance(waiter, _LoopWaiter):
        return not waiter.future.cancelled()  # a read: the future is settled on its loop only
    return waiter.set_running_or_notify_cancel()


def each_alone(
    batch: list[tuple[list, Any]], err: Exception, commit: Callable[[list], list[tuple]]
) -> list[tuple]:
    """After ``err`` broke a batch's commit: each request committed alone (``commit`` of one),
    so a bad request fails only itself; a request alone gets ``err``."""
    if len(batch) > 1:
        return [outcome for one in batch for outcome in commit([one])]
    return [(batch[0][1], err)]


def settle(settled: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    """On the loop: complete the futures of one transaction (those not cancelled meanwhile)."""
    for future, err in settled:
        if future.done():
            continue
        if err is None:
            future.set_result(None)
        else:
            future.set_exception(err)
