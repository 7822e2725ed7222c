"""Alembic environment of the service database.

Run through :mod:`vbsp_state.migrate`, which passes an open connection in
``config.attributes["connection"]``. Without one (e.g. the ``alembic`` command with a config
naming this folder) the URL comes from ``sqlalchemy.url`` or the project's settings.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from vbsp_state.schema import metadata

config = context.config
target_metadata = metadata


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER via table copies
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL for the configured URL without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the given connection, or on a new one to the configured database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from vbsp_state.settings import get_state

        url = get_state().db_url
    from vbsp_state.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
