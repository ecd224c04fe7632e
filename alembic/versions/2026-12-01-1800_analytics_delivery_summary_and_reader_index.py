"""analytics: delivery summary per finished send, and event indexes for reader counts

Revision ID: a9c3e5d7anfx
Revises: f5a6b7c8dlix
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a9c3e5d7anfx"
down_revision: str | Sequence[str] | None = "f5a6b7c8dlix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Distinct readers per issue and variant, and per excerpt for clicks, without a sort.
INDEXES = {
    "ix_engagement_event_reader_cells": [
        "issue_id",
        "variant",
        "reader",
        "subscriber_id",
        "kind",
        "machine",
    ],
    "ix_engagement_event_excerpt_cells": [
        "issue_id",
        "kind",
        "variant",
        "excerpt_id",
        "reader",
        "subscriber_id",
        "machine",
    ],
}


def upgrade() -> None:
    # Filled by the reports themselves, the first time they count a finished send.
    op.create_table(
        "delivery_summary",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("deliveries_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column(
            "cells",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("counted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issue.id"],
            name=op.f("fk_delivery_summary_issue_id_issue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_delivery_summary")),
    )
    with op.batch_alter_table("engagement_event", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("engagement_event", schema=None) as batch_op:
        for name in reversed(INDEXES):
            batch_op.drop_index(name)
    op.drop_table("delivery_summary")
