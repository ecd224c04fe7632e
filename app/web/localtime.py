"""Times as people read them: stored in UTC, shown and typed in the organisation's time
zone (DRUMBEAT_TIMEZONE), with its name beside every time of day."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DEFAULT_PATTERN = "%Y-%m-%d %H:%M"


def as_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A time in the zone; a naive one is taken as UTC (a mail's Date header may be)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def format_local(
    moment: datetime, zone: ZoneInfo, pattern: str = DEFAULT_PATTERN, *, named: bool = True
) -> str:
    local = as_local(moment, zone)
    text = local.strftime(pattern)
    return f"{text} {local.tzname()}" if named else text


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """A datetime-local field's value (2026-12-03T09:00) as a moment in the zone. An explicit
    offset is kept. ValueError, with a reason a person can act on, for what is not a time or
    is a wall-clock time the zone skips (clocks going forward)."""
    try:
        written = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("give a date and a time") from None
    if written.tzinfo is not None:
        return written
    moment = written.replace(tzinfo=zone)
    if as_local(moment.astimezone(UTC), zone).replace(tzinfo=None) != written:
        skipped = f"{written:%Y-%m-%d %H:%M}"
        raise ValueError(f"{skipped} does not exist in {zone.key} (the clocks go forward then)")
    return moment
