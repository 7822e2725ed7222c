"""Outcome submissions (idempotent offline outcomes) and encrypted household contacts.

Self-contained: the two tables of issue 19, frozen here as in :mod:`vbsp_state.schema`.

Revision ID: 0002_offline_contacts
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_offline_contacts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``outcome_submissions`` and ``household_contacts``."""
    op.create_table(
        "outcome_submissions",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(100), primary_key=True),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
    )
    op.create_table(
        "household_contacts",
        sa.Column("household_id", sa.String(64), primary_key=True),
        sa.Column("commune_id", sa.String(64), nullable=False, index=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    """Drop both tables (contacts are removed with them)."""
    op.drop_table("household_contacts")
    op.drop_table("outcome_submissions")
