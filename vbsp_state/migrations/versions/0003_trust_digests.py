"""Keyed digests, one plan per commune and month, the security log, the caller's role on audits.

Rules for what was stored before (issue 20):

- **Digests** (``score_audit.request_sha256``, ``outcome_submissions.request_sha256``) were unkeyed
  SHA-256 of requests that could hold a citizen ID. Their inputs are not stored, so they cannot be
  recomputed; each is re-keyed, ``HMAC(secret, "legacy:" + old hex)``
  (:func:`vbsp_state.digests.legacy`), so no raw SHA of an ID remains and a late retry of an old
  request still matches.
- **Idempotency keys** were stored verbatim; each becomes its HMAC
  (:func:`vbsp_state.digests.idempotency_key`), exactly what the service now computes.
- **Duplicate plans** (same commune and month): the earliest created is kept (ties: smallest
  ``plan_id``); the other plans' visits that have a recorded outcome (labels) are re-pointed to
  it, their visits without an outcome are deleted, then the other plans are deleted.

On SQLite the rewrite runs with ``secure_delete`` (old values are zeroed, not left in free pages)
and :func:`vbsp_state.migrate.upgrade` truncates the WAL afterwards. PostgreSQL keeps old row
versions until vacuumed: run ``VACUUM FULL score_audit, outcome_submissions`` after upgrading.

The secret comes from the state settings (``VBSP_RISK_PII_KEY``, else ``state/digest.key``), read
only when there are rows to rewrite.

Revision ID: 0003_trust_digests
Revises: 0002_offline_contacts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_trust_digests"
down_revision = "0002_offline_contacts"
branch_labels = None
depends_on = None


def _rekey(conn: sa.Connection, table: str, keys: tuple[str, ...]) -> int:
    """Re-key the digests and idempotency keys of ``table`` (rows named by ``keys``)."""
    from vbsp_state import digests
    from vbsp_state.settings import get_state

    cols = ", ".join(keys)
    rows = conn.execute(sa.text(f"SELECT {cols}, idempotency_key, request_sha256 FROM {table}"))
    rows = rows.all()
    if not rows:
        return 0
    secret = digests.digest_key(get_state())
    where = " AND ".join(f"{k} = :k_{k}" for k in keys)
    conn.execute(
        sa.text(f"UPDATE {table} SET request_sha256 = :sha, idempotency_key = :idem WHERE {where}"),
        [
            {
                **{f"k_{k}": v for k, v in zip(keys, r[: len(keys)], strict=True)},
                "sha": digests.legacy(secret, r[-1]),
                "idem": None if r[-2] is None else digests.idempotency_key(secret, r[-2]),
            }
            for r in rows
        ],
    )
    return len(rows)


def _one_plan_per_month(conn: sa.Connection) -> None:
    """Keep each commune-month's earliest plan; move its twins' outcome visits to it."""
    plans = conn.execute(
        sa.text(
            "SELECT plan_id, commune_id, month FROM inspection_plans "
            "ORDER BY commune_id, month, created_at, plan_id"
        )
    ).all()
    kept: dict[tuple[str, str], str] = {}
    for plan_id, commune_id, month in plans:
        keep = kept.setdefault((commune_id, month), plan_id)
        if keep == plan_id:
            continue
        p = {"dup": plan_id, "keep": keep}
        conn.execute(
            sa.text(
                "UPDATE plan_visits SET plan_id = :keep WHERE plan_id = :dup AND visit_id IN "
                "(SELECT visit_id FROM visit_outcomes)"
            ),
            p,
        )
        conn.execute(
            sa.text(
                "DELETE FROM outcome_submissions WHERE visit_id IN (SELECT visit_id "
                "FROM plan_visits WHERE plan_id = :dup)"
            ),
            p,
        )
        conn.execute(sa.text("DELETE FROM plan_visits WHERE plan_id = :dup"), p)
        conn.execute(sa.text("DELETE FROM inspection_plans WHERE plan_id = :dup"), p)


def upgrade() -> None:
    """Re-key digests and idempotency keys, de-duplicate plans, add the log and the role."""
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # freed cells (the old keys and digests) are zeroed, not left in free pages
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
    _rekey(conn, "score_audit", ("score_id",))
    _rekey(conn, "outcome_submissions", ("client_id", "idempotency_key"))
    _one_plan_per_month(conn)
    op.create_index(
        "uq_inspection_plans_commune_month",
        "inspection_plans",
        ["commune_id", "month"],
        unique=True,
    )
    op.add_column("score_audit", sa.Column("role", sa.String(16), nullable=True))
    op.create_table(
        "security_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    if sqlite:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")


def downgrade() -> None:
    """Drop the log, the role and the constraint (digests stay keyed: they cannot be undone)."""
    op.drop_table("security_events")
    with op.batch_alter_table("score_audit") as batch:
        batch.drop_column("role")
    op.drop_index("uq_inspection_plans_commune_month", table_name="inspection_plans")
