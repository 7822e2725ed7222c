"""Initial schema: the service's tables, the online feature store and the champion audit.

Hand-written, with the table definitions frozen here (later schema changes are new revisions).
Each table is created only if it does not exist yet: ``features.online_store.materialize`` and
``training.registry.ensure_audit_table`` create theirs on demand, so a database may already hold
``online_features`` or ``model_alias_history`` before its first migration. The downgrade drops
the service's own tables only.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

logger = logging.getLogger(__name__)

OWN_TABLES = (
    "api_clients",
    "score_audit",
    "portfolio_scores",
    "inspection_plans",
    "plan_visits",
    "visit_outcomes",
    "service_events",
)


def _existing() -> set[str]:
    if context.is_offline_mode():
        return set()
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    """Create every table of the service database that is missing."""
    existing = _existing()

    def create(name: str, *elements: sa.SchemaItem) -> None:
        if name in existing:
            logger.info("table %s already exists; left as it is", name)
            return
        op.create_table(name, *elements)

    # vbsp_state.schema.online_features (written by features.online_store)
    create(
        "online_features",
        sa.Column("entity_type", sa.String(16), primary_key=True),
        sa.Column("entity_id", sa.String(64), primary_key=True),
        sa.Column("group_id", sa.String(64), nullable=False, index=True),
        sa.Column("village_id", sa.String(64), nullable=False),
        sa.Column("commune_id", sa.String(64), nullable=False, index=True),
        sa.Column("workers", sa.Integer, nullable=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("feature_set_version", sa.String(64), nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("materialized_at", sa.DateTime, nullable=False),
    )
    # vbsp_state.schema.alias_history (written by training.registry)
    create(
        "model_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(50), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_version", sa.String(20)),
        sa.Column("to_version", sa.String(20)),
        sa.Column("candidate_version", sa.String(20), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("gate_passed", sa.Boolean),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("gate_run_id", sa.String(64)),
        sa.Column("tracking_store", sa.String(500)),
    )
    create(
        "api_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("communes", sa.Text, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("key_hash", name="uq_api_clients_key_hash"),
    )
    create(
        "score_audit",
        sa.Column("score_id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("household_id", sa.String(64), nullable=True, index=True),
        sa.Column("group_id", sa.String(64), nullable=True),
        sa.Column("commune_id", sa.String(64), nullable=True, index=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("feature_as_of", sa.Date, nullable=True),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_score_audit_idem"),
    )
    create(
        "portfolio_scores",
        sa.Column("household_id", sa.String(64), primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("model_name", sa.String(128), primary_key=True),
        sa.Column("model_version", sa.String(32), primary_key=True),
        sa.Column("commune_id", sa.String(64), nullable=False),
        sa.Column("village_id", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("outstanding", sa.Float, nullable=True),
        sa.Column("exposure", sa.Float, nullable=True),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Index("ix_portfolio_scores_commune_as_of", "commune_id", "as_of"),
        sa.Index("ix_portfolio_scores_model_as_of", "model_name", "as_of"),
    )
    create(
        "inspection_plans",
        sa.Column("plan_id", sa.String(36), primary_key=True),
        sa.Column("commune_id", sa.String(64), nullable=False, index=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("created_by", sa.String(64)),
        sa.Column("model_name", sa.String(128)),
        sa.Column("model_version", sa.String(32)),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
    )
    create(
        "plan_visits",
        sa.Column("visit_id", sa.String(36), primary_key=True),
        sa.Column(
            "plan_id",
            sa.String(36),
            sa.ForeignKey("inspection_plans.plan_id"),
            nullable=False,
            index=True,
        ),
        sa.Column("household_id", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("village_id", sa.String(64), nullable=False),
        sa.Column("visit_date", sa.Date, nullable=False),
        sa.Column("selection", sa.String(16), nullable=False),
        sa.Column("selection_probability", sa.Float, nullable=False),
        sa.Column("probability", sa.Float, nullable=True),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    create(
        "visit_outcomes",
        sa.Column(
            "visit_id", sa.String(36), sa.ForeignKey("plan_visits.visit_id"), primary_key=True
        ),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("use_of_funds", sa.String(24), nullable=False),
        sa.Column("borrower_present", sa.Boolean, nullable=False),
        sa.Column("migrated", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
    )
    create(
        "service_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop the service's own tables (the online store and the champion audit stay)."""
    existing = _existing()
    for name in reversed(OWN_TABLES):  # children before the tables they reference
        if name in existing or context.is_offline_mode():
            op.drop_table(name)
