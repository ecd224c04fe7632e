"""merge news, issues and webhooks

Revision ID: f6a7b8c9merge
Revises: e5c3d2a4issu, d4b2e1f3hook
Create Date: 2026-11-26 03:30:14.764669
"""

from collections.abc import Sequence

revision: str = "f6a7b8c9merge"
down_revision: tuple[str, str] = ("e5c3d2a4issu", "d4b2e1f3hook")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
