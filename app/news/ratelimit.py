"""A fixed-window request counter in the database, so every app process shares one count."""

import math
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.db import utcnow
from app.errors import TooManyRequests
from app.news.models import RateLimitWindow

WINDOW = timedelta(minutes=1)


def hit(session: Session, *, key: str, limit: int, now: datetime | None = None) -> int:
    """Count one request for `key` in the current minute; TooManyRequests beyond `limit`."""
    now = now or utcnow()
    window_start = now.replace(second=0, microsecond=0)
    # Past windows count for nothing; dropping them keeps the table at one row per caller.
    session.execute(
        delete(RateLimitWindow).where(
            RateLimitWindow.key == key, RateLimitWindow.window_start < window_start
        )
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # One atomic statement: concurrent requests from several processes cannot lose a count.
    statement = (
        insert(RateLimitWindow)
        .values(key=key, window_start=window_start, hits=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": RateLimitWindow.hits + 1}
        )
        .returning(RateLimitWindow.hits)
    )
    hits = session.scalar(statement)
    if hits > limit:
        wait = (window_start + WINDOW - now).total_seconds()
        raise TooManyRequests(
            f"more than {limit} requests a minute; try again shortly",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return hits
