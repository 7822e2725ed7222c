"""Group commit of audit rows on the event loop, for the embedded SQLite database.

SQLite commits in WAL mode with ``synchronous=NORMAL`` write to the page cache and do not wait
for the disk, so a commit is shorter than handing the rows to a writer thread and waking the
loop back: the thread writer kept the loop waiting longer than the commit itself (figures in
``docs/measurements.md``).
Here the rows a request hands to :meth:`LoopAuditWriter.write` wait for the end of the loop's
next pass; then one transaction commits every request's rows that arrived meanwhile, and
each request is answered only after its rows are committed (nothing acknowledged is lost).

The loop never waits for a lock or the disk:

* the connection has ``busy_timeout=0``: while another connection holds the write lock the
  commit is retried every few milliseconds with ``call_later`` (other requests go on), and after
  ``busy_timeout`` seconds the waiting requests fail with the database's "locked" error (503);
* it has ``wal_autocheckpoint=0``: copying the WAL back into the database (and the fsync that
  goes with it) runs in a worker thread on its own connection, every ``checkpoint_every``
  commits, in PASSIVE mode (it never blocks the loop's commits).

Rows go in through the DBAPI cursor (``executemany`` of one INSERT, values converted by the
column types' own SQLAlchemy bind processors, so they are stored exactly as
:func:`serving.audit.write` stores them): SQLAlchemy's statement execution cost the loop more than
the commit. Errors are raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``).

A batch that fails otherwise (a duplicate idempotency key, say) is retried request by request,
so one bad request fails alone — as :class:`serving.audit_writer.AuditWriter` does, the writer
used for PostgreSQL, where a commit is a network round trip the loop must not wait for.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from serving.audit_writer import each_alone, settle
from vbsp_state.schema import score_audit

logger = logging.getLogger(__name__)
RETRY_SECONDS = 0.002


class LoopAuditWriter:
    """Audit rows committed on the event loop, one transaction per pass of the loop."""

    def __init__(
        self, engine: Engine, busy_timeout: float = 5.0, checkpoint_every: int = 500
    ) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        self.checkpoint_every = checkpoint_every
        self._pending: list[tuple[list, asyncio.Future]] = []
        self._scheduled = False
        self._conn: object | None = None  # the pool's proxy of the sqlite3 connection
        self._sqlite: sqlite3.Connection | None = None  # that connection, used directly
        self._insert = _Insert(engine)
        self._commits = 0
        self._checkpoint: asyncio.Future | None = None
        self.last_checkpoint: tuple | None = None
        """(busy, WAL frames, frames checkpointed) of the last checkpoint."""

    async def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Queue one request's rows and wait until they are committed (raises if they fail)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._pending.append((list(rows), waiter))
        if not self._scheduled:
            self._scheduled = True
            # after the loop's next pass, not this one: requests read in the next pass join the
            # same transaction (6.2 requests a commit instead of 4.4 at concurrency 8)
            loop.call_soon(loop.call_soon, self._flush, loop, loop.time())
        await waiter

    def close(self) -> None:
        """Close the connection (requests still waiting have been answered by then)."""
        self._discard_connection()

    def _flush(self, loop: asyncio.AbstractEventLoop, since: float) -> None:
        self._scheduled = False
        # a request that gave up (cancelled) is not answered and its rows are not written
        batch = [(rows, w) for rows, w in self._pending if not w.done()]
        self._pending = []
        if not batch:
            return
        try:
            outcomes = self._commit(batch)
        except OperationalError as err:  # the write lock is held by another connection
            if loop.time() - since < self.busy_timeout:
                self._pending = batch + self._pending
                self._scheduled = True
                loop.call_later(RETRY_SECONDS, self._flush, loop, since)
                return
            outcomes = [(w, err) for _, w in batch]
        settle(outcomes)
        self._commits += 1
        if self._commits % self.checkpoint_every == 0 and self._checkpoint is None:
            self._checkpoint = loop.run_in_executor(None, self._run_checkpoint)
            self._checkpoint.add_done_callback(self._checkpoint_done)

    def _commit(self, batch: list[tuple[list, asyncio.Future]]) -> list[tuple]:
        """Commit the batch's rows; (waiter, ``None`` or the error) for each request.

        Raises:
            OperationalError: The database is locked (the batch may be retried as a whole).
        """
        try:
            if self._sqlite is None:
                self._conn = self.engine.raw_connection()
                self._sqlite = self._conn.dbapi_connection  # type: ignore[attr-defined]
                self._sqlite.execute("PRAGMA busy_timeout=0")
                self._sqlite.execute("PRAGMA wal_autocheckpoint=0")
            self._insert(self._sqlite, [row for rows, _ in batch for row in rows])
        except OperationalError as err:
            self._discard_connection()
            if _locked(err):
                raise
            return [(w, err) for _, w in batch]
        except Exception as err:
            self._discard_connection()
            return each_alone(batch, err, self._commit)
        return [(w, None) for _, w in batch]

    def _discard_connection(self) -> None:
        # invalidated, not returned to the pool: its pragmas are not for other users
        if self._conn is not None:
            try:
                self._conn.invalidate()
            except Exception:  # already broken
                logger.debug("audit writer: closing a broken connection failed", exc_info=True)
            self._conn = self._sqlite = None

    def _run_checkpoint(self) -> tuple:
        with self.engine.connect() as conn:
            return tuple(conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one())

    def _checkpoint_done(self, done: asyncio.Future) -> None:
        self._checkpoint = None
        if done.cancelled():
            return
        err = done.exception()
        if err is not None:
            logger.warning("audit log: WAL checkpoint failed: %s", type(err).__name__)
            return
        self.last_checkpoint = done.result()


class _Insert:
    """``INSERT INTO score_audit`` through the DBAPI, values as SQLAlchemy would bind them."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self.columns = [c.name for c in score_audit.columns]
        self._values = operator.itemgetter(*self.columns)
        self.processors: list[tuple[int, Callable]] = []
        for j, column in enumerate(score_audit.columns):
            impl = column.type.dialect_impl(dialect)
            process = impl.bind_processor(dialect)
            if process is not None:
                self.processors.append((j, _fast_path(impl, process)))
        self.sql = (
            f"INSERT INTO {score_audit.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join('?' for _ in self.columns)})"
        )

    def params(self, row: Mapping[str, object]) -> list[object]:
        """The row's values in column order, converted as SQLAlchemy converts them."""
        try:
            values = list(self._values(row))
        except KeyError:  # a column left out is NULL, as with SQLAlchemy's insert
            values = [row.get(c) for c in self.columns]
        for j, process in self.processors:  # dates and times to SQLAlchemy's stored text
            values[j] = process(values[j])
        return values

    def __call__(self, conn: sqlite3.Connection, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert ``rows`` and commit (rolled back on error).

        Raises:
            sqlalchemy.exc.DBAPIError: The matching subclass (``IntegrityError``, ...).
        """
        params = [self.params(row) for row in rows]
        try:
            conn.execute("BEGIN")  # one transaction whatever the driver's autocommit setting
            conn.executemany(self.sql, params)
            conn.commit()
        except sqlite3.Error as err:
            try:
                conn.rollback()
            except sqlite3.Error:
                logger.debug("audit writer: rollback failed", exc_info=True)
            raise DBAPIError.instance(self.sql, None, err, sqlite3.Error) from None


_DATETIME_TEXT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_DATE_TEXT = "%(year)04d-%(month)02d-%(day)02d"


def _fast_path(impl: object, process: Callable) -> Callable:
    """``process`` with the text of a plain value written directly.

    SQLAlchemy's SQLite processors build ``YYYY-MM-DD HH:MM:SS.ffffff`` (``DATETIME``) and
    ``YYYY-MM-DD`` (``DATE``) with ``%`` formatting, a few microseconds a value; ``isoformat``
    writes the same text in C for a naive ``datetime`` (resp. a ``date``) with a four-digit
    year. Any other value, or another storage format, goes to SQLAlchemy's own processor.
    """
    text_format = getattr(impl, "_storage_format", None)
    if isinstance(impl, sa.DateTime) and text_format == _DATETIME_TEXT:

        def fast_datetime(value: object) -> object:
            if type(value) is datetime and value.tzinfo is None and value.year >= 1000:
                return value.isoformat(" ", "microseconds")
            return process(value)

        return fast_datetime
    if isinstance(impl, sa.Date) and text_format == _DATE_TEXT:

        def fast_date(value: object) -> object:
            if type(value) is date and value.year >= 1000:
                return value.isoformat()
            return process(value)

        return fast_date
    return process


def _locked(err: OperationalError) -> bool:
    message = str(err.orig).lower()
    return "locked" in message or "busy" in message
