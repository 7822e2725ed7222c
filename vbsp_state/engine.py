"""Database engines for the service's database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, ``synchronous=NORMAL`` and a busy timeout,
    and its folder is created."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 5})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=5000")
            # In WAL mode NORMAL commits without an fsync: a commit survives a crash or kill of
            # the process, and may be lost only if the machine loses power (PostgreSQL is the
            # back end for that guarantee).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)
