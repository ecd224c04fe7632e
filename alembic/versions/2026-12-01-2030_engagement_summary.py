"""analytics: engagement summary, the raw events' counts per issue kept for the reports

Revision ID: b7e2c4f9esum
Revises: a1b2c3d4sgcn
Create Date: 2026-12-01 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7e2c4f9esum"
down_revision: str | Sequence[str] | None = "a1b2c3d4sgcn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_summary",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("counted_changes", sa.Integer(), nullable=True),
        sa.Column(
            "cells",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("counted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issue.id"],
            name=op.f("fk_engagement_summary_issue_id_issue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_engagement_summary")),
    )
    # Issues with raw events already stored: out of date until a report counts them.
    op.execute(
        "INSERT INTO engagement_summary (issue_id, changes)"
        " SELECT DISTINCT issue_id, 1 FROM engagement_event"
    )


def downgrade() -> None:
    op.drop_table("engagement_summary")
