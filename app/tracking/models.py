"""Engagement records. In the default privacy mode nothing here names a person."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import utcnow


class ExcerptFeedback(SQLModel, table=True):
    """One "was this useful?" answer: to which excerpt, not from whom."""

    __tablename__ = "excerpt_feedback"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    excerpt_id: int = Field(foreign_key="excerpt.id", index=True, ondelete="CASCADE")
    useful: bool
    comment: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
