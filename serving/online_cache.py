"""The online store's rows held in memory, so scoring an application reads no database.

The store changes once a month (``vbsp-risk materialize``); the service loads every row at
start, answers lookups from memory, reads through to the database on a miss (a row written since
the last load), and reloads everything when the store's stamp (row count and last
materialization time) changes — checked with the periodic model check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.online_store import fetch, stored_features
from vbsp_state.schema import online_features

logger = logging.getLogger(__name__)

Key = tuple[str, str]


def _decoded(row: Mapping[str, object]) -> dict[str, object]:
    return {**row, "features": stored_features(row)}


class OnlineCache:
    """Read-through, in-memory copy of ``online_features`` (features decoded once)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rows: dict[Key, dict[str, object]] = {}
        self._stamp: tuple | None = None
        self._lock = threading.Lock()

    def _current_stamp(self) -> tuple:
        t = online_features
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.materialized_at))).one()
            )

    def load(self) -> int:
        """Read every row of the store into memory; return the row count."""
        stamp = self._current_stamp()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(online_features)).mappings().all()
        fresh = {(r["entity_type"], r["entity_id"]): _decoded(r) for r in rows}
        with self._lock:
            self._rows, self._stamp = fresh, stamp
        logger.info("online store: %d rows in memory", len(fresh))
        return len(fresh)

    def refresh_if_changed(self) -> bool:
        """Reload when the store was materialized again since the last load."""
        if self._current_stamp() != self._stamp:
            self.load()
            return True
        return False

    def get(self, household_id: str | None = None, group_id: str | None = None) -> dict | None:
        """The row of a household, or of a group's new member (``None`` if absent)."""
        key = ("household", household_id) if household_id is not None else ("group", group_id)
        row = self._rows.get(key)  # type: ignore[arg-type]
        if row is None:
            stored = fetch(self.engine, household_id=household_id, group_id=group_id)
            if stored is None:
                return None
            row = _decoded(stored)
            with self._lock:
                self._rows[key] = row  # type: ignore[index]
        return row
