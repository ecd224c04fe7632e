"""The studio's pages, one router per domain (app/<domain>/studio.py), in one list for
create_app()."""

from app.accounts import studio as accounts
from app.analytics import studio as analytics
from app.delivery import studio as delivery
from app.issues import preview
from app.issues import studio as issues
from app.news import studio as news
from app.segments import studio as segments
from app.subscribers import studio as subscribers
from app.web import settings
from app.webhooks import studio as webhooks

STUDIO_ROUTERS = (
    news.router,
    issues.router,
    preview.router,
    delivery.router,
    subscribers.router,
    segments.router,
    settings.router,
    accounts.settings_router,
    webhooks.router,
    analytics.router,
)
# Paths whose request bodies may be larger than the JSON default (uploads).
STUDIO_BODY_LIMITS = {"/studio/subscribers/import": "max_import_bytes"}
