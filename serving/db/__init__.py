"""The scoring service's database: schema (:mod:`serving.db.schema`) and Alembic migrations.

:func:`serving.db.migrate.upgrade` brings a database (SQLite or PostgreSQL) to the code's
revision; the service refuses to start on an older one (:func:`serving.db.migrate.check_current`).
"""
