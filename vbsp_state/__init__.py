"""What every layer shares: the state folder's settings and the service database.

The bottom of the house (``vbsp_risk`` > ``serving`` > ``training`` > ``features`` >
``vbsp_state``): it imports none of the project's other packages, so any of them may use it.

* :mod:`vbsp_state.settings`: the state folder, database URL, tracking URI, actor and PII key,
  read from the environment once (:class:`~vbsp_state.settings.StateSettings`);
* :mod:`vbsp_state.engine`: database engines (SQLite by default, PostgreSQL by URL);
* :mod:`vbsp_state.schema`: every table of the service database, on one ``MetaData``;
* :mod:`vbsp_state.migrate` and ``migrations/``: the Alembic migrations;
  :func:`vbsp_state.migrate.upgrade` brings a database to the code's revision and the service
  refuses to start on an older one (:func:`vbsp_state.migrate.check_current`).
"""
