"""Visits and their outcomes in the service database: which plan and commune a visit belongs to,
its date, and the outcome an inspector records (idempotent by the outbox's key)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving import outcome_keys
from serving.planner import USE_OF_FUNDS
from vbsp_state.schema import inspection_plans, plan_visits, visit_outcomes


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def visit_plan(engine: Engine, visit_id: str) -> tuple[str, str] | None:
    """``(plan_id, commune_id)`` of a visit, or ``None``."""
    v, p = plan_visits, inspection_plans
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(v.c.plan_id, p.c.commune_id)
            .select_from(v.join(p, p.c.plan_id == v.c.plan_id))
            .where(v.c.visit_id == visit_id)
        ).first()
    return None if row is None else (row[0], row[1])


def visit_date(engine: Engine, visit_id: str) -> date | None:
    """The date a visit is planned for, or ``None`` for an unknown visit."""
    v = plan_visits
    with engine.connect() as conn:
        d = conn.execute(sa.select(v.c.visit_date).where(v.c.visit_id == visit_id)).scalar()
    return None if d is None else (d if isinstance(d, date) else pd.Timestamp(d).date())


def record_outcome(
    engine: Engine,
    visit_id: str,
    use_of_funds: str,
    borrower_present: bool,
    migrated: bool,
    notes: str | None,
    recorded_by: str,
    idempotency_key: str | None = None,
    *,
    secret: bytes,
) -> dict:
    """Record (or correct) what the inspector found on a visit; return the stored outcome.

    With ``idempotency_key`` (the browser's outbox sets one per outcome), a resend answers the
    first outcome and writes nothing (:mod:`serving.outcome_keys`; ``KeyReusedError`` for another);
    ``secret`` keys what is stored of the key and the request (the service's digest secret).
    """
    if use_of_funds not in USE_OF_FUNDS:
        raise ValueError(f"use_of_funds must be one of {USE_OF_FUNDS}")
    row = {
        "visit_id": visit_id,
        "recorded_at": _now(),
        "recorded_by": recorded_by,
        "use_of_funds": use_of_funds,
        "borrower_present": bool(borrower_present),
        "migrated": bool(migrated),
        "notes": notes or None,
    }
    asked = {k: row[k] for k in ("use_of_funds", "borrower_present", "migrated", "notes")}
    text = outcome_keys.asked_text(visit_id, asked)
    try:
        with engine.begin() as conn:
            first = idempotency_key and outcome_keys.replay(
                conn, recorded_by, idempotency_key, secret, text
            )
            if first:
                return first
            _upsert_outcome(conn, visit_id, row)
            if idempotency_key:
                answer = {k: v for k, v in row.items() if k != "visit_id"}
                outcome_keys.remember(
                    conn, recorded_by, idempotency_key, visit_id, secret, text, answer
                )
    except sa.exc.IntegrityError:  # the same key sent twice at once: the other one won
        if not idempotency_key:
            raise
        with engine.connect() as conn:
            first = outcome_keys.replay(conn, recorded_by, idempotency_key, secret, text)
        if first is None:
            raise
        return first
    return {k: v for k, v in row.items() if k != "visit_id"}


def _upsert_outcome(conn: sa.Connection, visit_id: str, row: dict) -> None:
    o = visit_outcomes
    done = conn.execute(
        o.update().where(o.c.visit_id == visit_id),
        {k: v for k, v in row.items() if k != "visit_id"},
    ).rowcount
    if not done:
        conn.execute(o.insert(), row)
