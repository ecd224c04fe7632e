"""Every table model, imported once so the metadata (and Alembic) knows them all."""

from app.accounts.models import ApiKey, LoginAttempt, User, UserSession
from app.analytics.models import EngagementReach, EngagementRollup
from app.audit.models import AuditEntry
from app.delivery.models import Delivery, SendRun
from app.feedback.models import FeedbackSubmission
from app.issues.models import (
    CalendarSetting,
    Excerpt,
    ExcerptFraming,
    ExcerptSource,
    Issue,
    IssueSegment,
    Section,
)
from app.news.models import NewsItem, NewsItemRevision, RateLimitWindow
from app.segments.models import Segment, SegmentMember
from app.subscribers.models import Subscriber
from app.tracking.models import ExcerptFeedback
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEntry",
    "CalendarSetting",
    "Delivery",
    "EngagementReach",
    "EngagementRollup",
    "Excerpt",
    "ExcerptFeedback",
    "ExcerptFraming",
    "ExcerptSource",
    "FeedbackSubmission",
    "Issue",
    "IssueSegment",
    "LoginAttempt",
    "NewsItem",
    "NewsItemRevision",
    "RateLimitWindow",
    "Section",
    "Segment",
    "SegmentMember",
    "SendRun",
    "Subscriber",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
]
