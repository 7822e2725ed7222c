"""Server-side web sessions (issue 20): the page cookie holds a random id, not the API key.

Self-contained: the table frozen here as in :mod:`vbsp_state.schema`. Existing cookies (which
held the key itself) stop working: every page user signs in once more.

Revision ID: 0004_web_sessions
Revises: 0003_trust_digests
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_web_sessions"
down_revision = "0003_trust_digests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``web_sessions``."""
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_web_sessions_client_id", "web_sessions", ["client_id"])


def downgrade() -> None:
    """Drop the sessions (every page user is signed out)."""
    op.drop_index("ix_web_sessions_client_id", table_name="web_sessions")
    op.drop_table("web_sessions")
