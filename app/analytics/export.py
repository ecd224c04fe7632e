"""Reports as CSV: a header row, one row per issue, segment or excerpt; hidden cells carry
their marker text ("fewer than 10") instead of a number."""

import csv
import io
from collections.abc import Iterable

from sqlmodel import SQLModel

DELIVERY = ["audience", "delivered", "failed", "bounced"]
ENGAGEMENT = [
    "unique_opens_raw",
    "unique_opens_human",
    "open_rate_raw",
    "open_rate_human",
    "clicks_raw",
    "clicks_human",
    "unique_clickers_raw",
    "unique_clickers_human",
    "click_rate_raw",
    "click_rate_human",
    "click_to_open_rate_raw",
    "click_to_open_rate_human",
    "unsubscribes",
    "unsubscribe_rate",
]
FEEDBACK = [
    "feedback_votes",
    "feedback_useful",
    "feedback_useful_share",
    "feedback_relevance_mean",
    "feedback_clarity_mean",
]
ISSUE_COLUMNS = ["issue_id", "number", "title", "status", "sent_at", *DELIVERY, *ENGAGEMENT]
ISSUE_COLUMNS += FEEDBACK
SEGMENT_COLUMNS = ["segment_id", "segment_name", *DELIVERY, *ENGAGEMENT]
EXCERPT_COLUMNS = [
    "excerpt_id",
    "position",
    "section",
    "headline",
    "delivered",
    "clicks_raw",
    "clicks_human",
    "unique_clickers_raw",
    "unique_clickers_human",
    "click_rate_raw",
    "click_rate_human",
    *FEEDBACK,
]
# A cell starting with one of these is a formula to a spreadsheet: titles are user input.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: Iterable[SQLModel], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        hidden: dict[str, str] = getattr(row, "hidden", {})
        writer.writerow([_cell(getattr(row, name), hidden.get(name)) for name in columns])
    return buffer.getvalue()


def _cell(value, hidden_reason: str | None) -> str:
    if hidden_reason:
        return hidden_reason
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
