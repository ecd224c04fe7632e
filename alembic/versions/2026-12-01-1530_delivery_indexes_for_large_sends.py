"""delivery indexes for large sends: claims and the error-rate check without sorts

Revision ID: f5a6b7c8dlix
Revises: e4a7c1f0ana1
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f5a6b7c8dlix"
down_revision: str | Sequence[str] | None = "e4a7c1f0ana1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_issue_id_state_next_attempt_at")
        batch_op.create_index(
            "ix_delivery_due", ["issue_id", "state", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_issue_id_updated_at", ["issue_id", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_issue_id_updated_at")
        batch_op.drop_index("ix_delivery_due")
        batch_op.create_index(
            "ix_delivery_issue_id_state_next_attempt_at",
            ["issue_id", "state", "next_attempt_at"],
            unique=False,
        )
