"""delivery, tracking: index subscriber_id on delivery and engagement_event; drop
engagement_event's issue_id index, which its covering indexes already lead with

Deleting a subscriber sets subscriber_id to null in both tables (ON DELETE SET NULL) and
looks up their events: without an index each deletion read every delivery and event
(millions of rows after a year of sends).

Revision ID: c3d5e7f9sbix
Revises: b7e2c4f9esum
Create Date: 2026-12-01 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3d5e7f9sbix"
down_revision: str | Sequence[str] | None = "b7e2c4f9esum"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_delivery_subscriber_id", "delivery", ["subscriber_id"], unique=False)
    op.create_index(
        "ix_engagement_event_subscriber_id", "engagement_event", ["subscriber_id"], unique=False
    )
    op.drop_index("ix_engagement_event_issue_id", table_name="engagement_event")


def downgrade() -> None:
    op.create_index("ix_engagement_event_issue_id", "engagement_event", ["issue_id"], unique=False)
    op.drop_index("ix_engagement_event_subscriber_id", table_name="engagement_event")
    op.drop_index("ix_delivery_subscriber_id", table_name="delivery")
