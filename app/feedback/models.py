"""Ideas, complaints, questions and praise sent through the public feedback form."""

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict
from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from app.db import utcnow


class FeedbackKind(StrEnum):
    idea = "idea"
    complaint = "complaint"
    question = "question"
    praise = "praise"


class FeedbackStatus(StrEnum):
    new = "new"
    accepted = "accepted"
    declined = "declined"
    done = "done"


# Ideas and complaints must say what problem, who is affected and what benefit before IT
# handles them: the counter-service that keeps the inbox free of noise (seed 002).
NEEDS_CRITERIA = (FeedbackKind.idea, FeedbackKind.complaint)
MAX_TEXT = 5000
MAX_AFFECTED = 500
MAX_NAME = 200
MAX_EMAIL = 320
MAX_NOTE = 2000


class FeedbackSubmission(SQLModel, table=True):
    """One submission; a name and an address only if the sender chose to give them."""

    __tablename__ = "feedback_submission"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)
    status: str = Field(default=FeedbackStatus.new, max_length=20, index=True)
    problem: str = Field(default="", sa_type=Text)
    affected: str = Field(default="", max_length=MAX_AFFECTED)
    benefit: str = Field(default="", sa_type=Text)
    message: str = Field(default="", sa_type=Text)
    name: str | None = Field(default=None, max_length=MAX_NAME)
    email: str | None = Field(default=None, max_length=MAX_EMAIL)
    status_note: str = Field(default="", max_length=MAX_NOTE)
    status_changed_by: str = Field(default="", max_length=320)
    status_changed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class FeedbackForm(SQLModel):
    """What the public form posts; every field a string, blanks allowed until the rules run."""

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: FeedbackKind
    problem: str = Field(default="", max_length=MAX_TEXT)
    affected: str = Field(default="", max_length=MAX_AFFECTED)
    benefit: str = Field(default="", max_length=MAX_TEXT)
    message: str = Field(default="", max_length=MAX_TEXT)
    name: str = Field(default="", max_length=MAX_NAME)
    email: str = Field(default="", max_length=MAX_EMAIL)


class FeedbackTriage(SQLModel):
    status: FeedbackStatus
    note: str = Field(default="", max_length=MAX_NOTE)


class FeedbackPublic(SQLModel):
    id: int
    kind: str
    status: str
    problem: str
    affected: str
    benefit: str
    message: str
    name: str | None
    email: str | None
    status_note: str
    status_changed_by: str
    status_changed_at: datetime | None
    created_at: datetime


class FeedbackPage(SQLModel):
    items: list[FeedbackPublic]
    next_before_id: int | None = Field(
        description="Pass as ?before_id= for the next page; null at the end."
    )
