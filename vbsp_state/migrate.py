"""Run the service database's Alembic migrations from code (no ``alembic.ini`` needed).

``vbsp-risk db upgrade`` and ``vbsp-risk serve`` call :func:`upgrade`; the service calls
:func:`check_current` at start and refuses a database at another revision.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x76627370  # "vbsp": serialises concurrent upgrades on one PostgreSQL database


def alembic_config() -> Config:
    """An Alembic configuration pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR.as_posix())
    return cfg


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def safe_url(engine: Engine) -> str:
    """The engine's URL with its password masked (for messages and logs)."""
    return engine.url.render_as_string(hide_password=True)


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest revision, in one transaction; return that revision.

    Idempotent: a database already at the head is left unchanged.
    """
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        revision = MigrationContext.configure(conn).get_current_revision()
    if engine.dialect.name == "sqlite":  # no page of the old schema's rows left in the WAL
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    logger.info("database %s at revision %s", safe_url(engine), revision)
    return str(revision)


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or ``None`` if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_current(engine: Engine) -> None:
    """Make sure the database is at the code's revision.

    Raises:
        RuntimeError: Naming the database (without password), its revision and the expected one.
    """
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise RuntimeError(
            f"database at {safe_url(engine)} is at revision {current}, code expects {head}; "
            "run `vbsp-risk db upgrade`"
        )
