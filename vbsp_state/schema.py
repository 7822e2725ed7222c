"""Every table of the service database (SQLAlchemy Core), on one :data:`metadata`.

The scoring service's own tables, the online feature store written by
:mod:`features.online_store` and the champion audit written by :mod:`training.registry` share
one database, so they are declared here, once, below every layer that reads or writes them;
the migrations (and their tests) compare the database with this one ``MetaData``.

Timestamps are naive UTC. JSON payloads are stored as text so SQLite and PostgreSQL share one
schema.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

online_features = sa.Table(
    "online_features",
    metadata,
    sa.Column("entity_type", sa.String(16), primary_key=True),  # household | group
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
"""Online feature store: each household's (and each group's new-member) latest features."""

alias_history = sa.Table(
    "model_alias_history",
    metadata,
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
"""Audit of every champion decision (``action``: promoted / refused / unchanged)."""

api_clients = sa.Table(
    "api_clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("communes", sa.Text, nullable=True),  # JSON list; NULL = all communes
    sa.Column("active", sa.Boolean, nullable=False, default=True, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("key_hash", name="uq_api_clients_key_hash"),
)
"""API clients synced from the keys file; only SHA-256 hashes of keys are stored."""

score_audit = sa.Table(
    "score_audit",
    metadata,
    sa.Column("score_id", sa.String(36), primary_key=True),  # uuid4 string
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(128), nullable=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("household_id", sa.String(64), nullable=True, index=True),  # pseudonym
    sa.Column("group_id", sa.String(64), nullable=True),
    sa.Column("commune_id", sa.String(64), nullable=True, index=True),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("feature_as_of", sa.Date, nullable=True),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("band", sa.String(16), nullable=False),
    sa.Column("request", sa.Text, nullable=False),  # validated, non-personal fields (JSON)
    sa.Column("response", sa.Text, nullable=False),  # response body (JSON), for replay
    sa.Column("role", sa.String(16), nullable=True),  # the caller's role (migration 0003)
    sa.UniqueConstraint("client_id", "idempotency_key", name="uq_score_audit_idem"),
)
"""One row per score served (application scoring), also the idempotency store."""

portfolio_scores = sa.Table(
    "portfolio_scores",
    metadata,
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
    sa.Column("reasons", sa.Text, nullable=False),  # JSON
    sa.Column("scored_at", sa.DateTime, nullable=False),
    sa.Index("ix_portfolio_scores_commune_as_of", "commune_id", "as_of"),
    sa.Index("ix_portfolio_scores_model_as_of", "model_name", "as_of"),
)
"""Batch scores of the portfolio (history and inspection priorities)."""

inspection_plans = sa.Table(
    "inspection_plans",
    metadata,
    sa.Column("plan_id", sa.String(36), primary_key=True),
    sa.Column("commune_id", sa.String(64), nullable=False, index=True),
    sa.Column("month", sa.String(7), nullable=False),  # YYYY-MM
    sa.Column("created_at", sa.DateTime),
    sa.Column("created_by", sa.String(64)),
    sa.Column("model_name", sa.String(128)),
    sa.Column("model_version", sa.String(32)),
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("status", sa.String(16), nullable=False, default="draft", server_default="draft"),
    # one plan per commune and month (migration 0003): concurrent creates cannot both succeed
    sa.Index("uq_inspection_plans_commune_month", "commune_id", "month", unique=True),
)
"""A commune's monthly inspection plan."""

plan_visits = sa.Table(
    "plan_visits",
    metadata,
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
    sa.Column("selection", sa.String(16), nullable=False),  # risk | exposure | random
    sa.Column("selection_probability", sa.Float, nullable=False),
    sa.Column("probability", sa.Float, nullable=True),
    sa.Column("model_version", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)
"""Visits of a plan, with how each was selected (for unbiased evaluation later)."""

visit_outcomes = sa.Table(
    "visit_outcomes",
    metadata,
    sa.Column("visit_id", sa.String(36), sa.ForeignKey("plan_visits.visit_id"), primary_key=True),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    # as_declared | partly_misused | misused | unknown
    sa.Column("use_of_funds", sa.String(24), nullable=False),
    sa.Column("borrower_present", sa.Boolean, nullable=False),
    sa.Column("migrated", sa.Boolean, nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
)
"""What the inspector found on a visit."""

service_events = sa.Table(
    "service_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON
)
"""Alerts and model reloads."""

# --- issue 19 (offline outcomes, household contacts): self-contained block, migration 0002 ---
outcome_submissions = sa.Table(
    "outcome_submissions",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(100), primary_key=True),
    sa.Column("visit_id", sa.String(36), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("response", sa.Text, nullable=False),  # the outcome as first answered (JSON)
)
"""Outcome posts by their client-made key: a resend (the browser's outbox) answers as the first."""

household_contacts = sa.Table(
    "household_contacts",
    metadata,
    sa.Column("household_id", sa.String(64), primary_key=True),  # pseudonym
    sa.Column("commune_id", sa.String(64), nullable=False, index=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),  # AES-GCM: nonce + ciphertext + tag
    sa.Column("loaded_at", sa.DateTime, nullable=False),
)
"""Head's name and hamlet where the office supplies them, encrypted with the PII key; shown on
pages to users of the household's commune only, never in API JSON, logs or model inputs."""
# --- end of issue 19 block ---

# --- issue 20 (trust): migration 0003 ---
security_events = sa.Table(
    "security_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # refusal | admin
    sa.Column("status", sa.Integer, nullable=False),  # HTTP status answered
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(200), nullable=False),  # route template, never the raw path
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),  # when the key is known
    sa.Column("role", sa.String(16), nullable=True),
    sa.Column("reason", sa.String(200), nullable=False),
)
"""Every 401, 403, commune-scoped 404 and admin action: who, where and why, never a key, a
national ID or an identifier from the path."""
# --- end of issue 20 block ---
# --- issue 20 (trust2): web sessions ---
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie's random id
    sa.Column("client_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),  # absolute end, whatever the activity
    sa.Column("revoked_at", sa.DateTime, nullable=True),  # logout, key deactivated or changed
)
"""Signed-in page sessions: the browser holds a random id, the database only its hash (a copy of
the table gives no way in); a session ends at ``expires_at``, after the idle timeout, or when
revoked."""
# --- end of issue 20 (trust2) block ---
