"""Database engines for the service's database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)
OWNER_ONLY = 0o600


def _owner_only(path: Path) -> None:
    """Create the database file readable by its owner only (0600), and tighten an existing one.

    SQLite gives its ``-wal`` and ``-shm`` files the main file's mode, so creating the file here,
    before SQLite does under the process umask (usually 0644), keeps all three private: they hold
    the audit log and the household features.
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(part.stat().st_mode) & 0o077:
                part.chmod(OWNER_ONLY)
                logger.info("database file %s made readable by its owner only", part.name)
        except FileNotFoundError:
            continue


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, ``synchronous=NORMAL`` and a busy timeout,
    and its folder is created; its files are readable by their owner only (0600)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name not in ("", ":memory:"):
            _owner_only(path)
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
