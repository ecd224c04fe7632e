"""index subscriber.updated_at: the segment counts' version of the subscriber table

Revision ID: a1b2c3d4sgcn
Revises: a9c3e5d7anfx
Create Date: 2026-12-01 18:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1b2c3d4sgcn"
down_revision: str | Sequence[str] | None = "a9c3e5d7anfx"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # max(updated_at) is read on every page that shows a segment count (app/segments/counts.py);
    # without the index it is a scan of the whole table.
    op.create_index("ix_subscriber_updated_at", "subscriber", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_subscriber_updated_at", table_name="subscriber")
