"""News items: the idempotent intake from other systems, edits, listing, archiving.

A source posts the whole item each time under its (source, external_id). A repost changes
only the fields that differ from that source's previous post, so an editor's fix to a
title survives the source's retries and its updates to other fields. Every change keeps
a revision with the previous values.
"""

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.config import DEFAULT_STALE_AFTER_DAYS
from app.db import utcnow
from app.errors import Invalid, NotFound
from app.issues.models import ExcerptSource
from app.news.markdown import render_markdown
from app.news.models import (
    KeyFigure,
    NewsItem,
    NewsItemCreate,
    NewsItemRevision,
    NewsItemUpdate,
    NewsKind,
)
from app.segments.models import Segment

Outcome = Literal["created", "updated", "unchanged"]
# What a post or an edit sets; everything else on the item follows from these.
CONTENT_FIELDS = (
    "title", "body_md", "link", "kind", "theme", "suggested_segment_ids", "key_figures",
    "occurred_at", "valid_until", "flash", "resolved",
)  # fmt: skip
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class NewsFilter:
    """What a list selects; every part is optional."""

    kinds: tuple[NewsKind, ...] = ()
    theme: str | None = None
    source: str | None = None
    since: datetime | None = None
    stale: bool | None = None
    archived: bool = False
    unused: bool | None = None  # true: no excerpt uses the item yet

    def where(self, now: datetime) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.kinds:
            clauses.append(NewsItem.kind.in_([k.value for k in self.kinds]))
        if self.theme is not None:
            clauses.append(NewsItem.theme == self.theme.strip().lower())
        if self.source is not None:
            clauses.append(NewsItem.source == self.source.strip())
        if self.since is not None:
            clauses.append(NewsItem.occurred_at >= self.since)
        if self.stale is not None:
            clauses.append(NewsItem.stale_at <= now if self.stale else NewsItem.stale_at > now)
        if self.unused is not None:
            used = NewsItem.id.in_(select(ExcerptSource.news_item_id))
            clauses.append(~used if self.unused else used)
        archived = NewsItem.archived_at.is_not(None)
        clauses.append(archived if self.archived else NewsItem.archived_at.is_(None))
        return clauses


def get(session: Session, *, news_item_id: int) -> NewsItem:
    """Load a news item or raise NotFound."""
    item = session.get(NewsItem, news_item_id) if 0 < news_item_id <= MAX_ID else None
    if item is None:
        raise NotFound(f"news item {news_item_id} does not exist")
    return item


def revisions(session: Session, *, item: NewsItem) -> list[NewsItemRevision]:
    """The item's history, newest first."""
    query = (
        select(NewsItemRevision)
        .where(NewsItemRevision.news_item_id == item.id)
        .order_by(NewsItemRevision.id.desc())
    )
    return list(session.scalars(query))


def list_page(
    session: Session, *, where: NewsFilter, cursor: str | None, limit: int
) -> tuple[list[NewsItem], str | None]:
    """One page, newest first; the cursor is opaque to clients and stable under inserts."""
    query = (
        select(NewsItem).where(*where.where(utcnow())).order_by(NewsItem.id.desc()).limit(limit + 1)
    )
    if cursor:
        query = query.where(NewsItem.id < _decode_cursor(cursor))
    rows = list(session.scalars(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1].id) if has_more and rows else None
    return rows, next_cursor


def upsert(
    session: Session,
    *,
    data: NewsItemCreate,
    actor: Principal,
    stale_after_days: dict[str, int],
) -> tuple[NewsItem, Outcome]:
    """Create or update the item with this (source, external_id); see the module docstring."""
    values = _content(session, data.model_dump(exclude={"source", "external_id"}))
    item = _find(session, source=data.source, external_id=data.external_id)
    if item is None:
        item = _insert_if_absent(
            session, data=data, values=values, actor=actor, days=stale_after_days
        )
        if item is not None:
            return item, "created"
        # Another request created it since we looked; from here this is a repost.
        item = _find(session, source=data.source, external_id=data.external_id)
        assert item is not None
    posted = _snapshot(values)
    before = item.last_posted or {}
    changes = {f: values[f] for f in CONTENT_FIELDS if posted[f] != before.get(f, _MISSING)}
    if posted != before:
        item.last_posted = posted
        session.add(item)
    changed = _apply(session, item, changes, actor=actor, via="post", days=stale_after_days)
    return item, "updated" if changed else "unchanged"


def update(
    session: Session,
    *,
    item: NewsItem,
    data: NewsItemUpdate,
    actor: Principal,
    stale_after_days: dict[str, int],
) -> NewsItem:
    """An editor's change to some fields; recorded as a revision when anything differs."""
    changes = _content(session, data.model_dump(exclude_unset=True))
    _apply(session, item, changes, actor=actor, via="edit", days=stale_after_days)
    return item


def archive(session: Session, *, item: NewsItem, actor: Principal) -> NewsItem:
    """Take the item out of the inbox (lists include it only with archived=true)."""
    if item.archived_at is None:
        item.archived_at = utcnow()
        session.add(item)
        session.flush()
        record(
            session,
            actor=actor,
            action="news_item.archived",
            object_type="news_item",
            object_id=item.id,
        )
    return item


# --- writing -----------------------------------------------------------------------------

_MISSING = object()


def _find(session: Session, *, source: str, external_id: str) -> NewsItem | None:
    # FOR UPDATE (PostgreSQL): concurrent reposts of one item apply one after the other,
    # so each revision holds the values it really replaced.
    query = (
        select(NewsItem)
        .where(NewsItem.source == source, NewsItem.external_id == external_id)
        .with_for_update()
    )
    return session.scalar(query)


def _insert_if_absent(
    session: Session,
    *,
    data: NewsItemCreate,
    values: dict[str, Any],
    actor: Principal,
    days: dict[str, int],
) -> NewsItem | None:
    """Insert the new item, or None when a concurrent request inserted it first."""
    _check_consistent(values)
    item = NewsItem(
        source=data.source,
        external_id=data.external_id,
        **values,
        body_html=render_markdown(values["body_md"]),
        last_posted=_snapshot(values),
        created_by=actor.label,
        stale_at=_stale_at(values, days),
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING rather than a failed INSERT: the transaction stays usable.
    statement = (
        insert(NewsItem)
        .values(**item.model_dump(exclude={"id"}))
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(NewsItem.id)
    )
    new_id = session.scalar(statement)
    if new_id is None:
        return None
    created = session.get(NewsItem, new_id)
    record(
        session,
        actor=actor,
        action="news_item.created",
        object_type="news_item",
        object_id=new_id,
        details={"source": data.source, "external_id": data.external_id, "kind": item.kind},
    )
    return created


def _apply(
    session: Session,
    item: NewsItem,
    changes: dict[str, Any],
    *,
    actor: Principal,
    via: str,
    days: dict[str, int],
) -> bool:
    """Set the changed fields and what follows from them; False when nothing differs."""
    _check_consistent({f: changes.get(f, getattr(item, f)) for f in CONTENT_FIELDS})
    was_kind, was_occurred_at = item.kind, item.occurred_at
    previous: dict[str, Any] = {}
    for field, value in changes.items():
        if getattr(item, field) != value:
            previous[field] = _jsonable(getattr(item, field))
            setattr(item, field, value)
    if not previous:
        session.flush()
        return False
    for field, value in _openness(item, was_kind, was_occurred_at).items():
        if getattr(item, field) != value:
            previous[field] = _jsonable(getattr(item, field))
            setattr(item, field, value)
    if "body_md" in previous:
        item.body_html = render_markdown(item.body_md)
    item.stale_at = _stale_at(item.model_dump(), days)
    item.updated_at = utcnow()
    session.add(item)
    session.add(
        NewsItemRevision(
            news_item_id=item.id,
            via=via,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            changed_fields=sorted(previous),
            previous=previous,
        )
    )
    session.flush()
    record(
        session,
        actor=actor,
        action="news_item.updated",
        object_type="news_item",
        object_id=item.id,
        details={"fields": sorted(previous), "via": via},
    )
    return True


def _openness(item: NewsItem, was_kind: str, was_occurred_at: datetime) -> dict[str, Any]:
    """open_since and resolved_at after a change, where they differ from the stored ones.

    Open work that arrives as a win keeps when it was first open and gains when it was
    done: the win's occurred_at, or now if the source did not move it on. Work that is
    reopened loses its resolved_at and keeps its open_since.
    """
    if was_kind == NewsKind.open_work and item.kind == NewsKind.win:
        since = item.open_since or was_occurred_at
        done = item.occurred_at if item.occurred_at > since else utcnow()
        return {"open_since": since, "resolved_at": done}
    if was_kind == NewsKind.win and item.kind == NewsKind.open_work and item.resolved_at:
        return {"resolved_at": None}
    return {}


def _check_consistent(values: dict[str, Any]) -> None:
    valid_until = values.get("valid_until")
    if valid_until is not None and valid_until <= values["occurred_at"]:
        raise Invalid("valid_until", "must be later than occurred_at")
    if values.get("resolved") and values["kind"] != NewsKind.incident:
        raise Invalid(
            "resolved", "only incidents are resolved; open work is done when it arrives as a win"
        )


def _stale_at(values: dict[str, Any], days: dict[str, int]) -> datetime:
    if values["valid_until"] is not None:
        return values["valid_until"]
    window = {**DEFAULT_STALE_AFTER_DAYS, **days}[values["kind"]]
    return values["occurred_at"] + timedelta(days=window)


def _content(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """Posted or patched fields as they are stored: segment ids, key figures as dicts."""
    values = dict(fields)
    if "body" in values:
        values["body_md"] = values.pop("body")
    if "suggested_segments" in values:
        values["suggested_segment_ids"] = _segment_ids(session, values.pop("suggested_segments"))
    if "key_figures" in values:
        values["key_figures"] = [
            KeyFigure.model_validate(f).model_dump(mode="json") for f in values["key_figures"]
        ]
    if "kind" in values:
        values["kind"] = NewsKind(values["kind"]).value
    return values


def _segment_ids(session: Session, refs: list[Any]) -> list[int]:
    """Segment ids for names (any case) or ids; 422 naming each one that is unknown."""
    names = {ref.strip().lower() for ref in refs if isinstance(ref, str)}
    ids = {_as_id(ref) for ref in refs} - {None}
    by_name = dict(
        session.execute(
            select(func.lower(Segment.name), Segment.id).where(func.lower(Segment.name).in_(names))
        ).all()
    )
    known_ids = set(session.scalars(select(Segment.id).where(Segment.id.in_(ids))))
    found: list[int] = []
    errors: list[dict[str, str]] = []
    for index, ref in enumerate(refs):
        key = ref.strip().lower() if isinstance(ref, str) else None
        segment_id = by_name.get(key) if key else None
        if segment_id is None and _as_id(ref) in known_ids:
            segment_id = _as_id(ref)
        if segment_id is None:
            errors.append({"field": f"suggested_segments.{index}", "reason": _unknown(ref)})
        elif segment_id not in found:
            found.append(segment_id)
    if errors:
        problem = Invalid(errors[0]["field"], errors[0]["reason"])
        problem.errors = errors
        raise problem
    return found


def _as_id(ref: Any) -> int | None:
    if isinstance(ref, str) and ref.strip().isascii() and ref.strip().isdigit():
        ref = int(ref.strip())
    if isinstance(ref, int) and not isinstance(ref, bool) and 0 < ref <= MAX_ID:
        return ref
    return None


def _unknown(ref: Any) -> str:
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return "give a segment name or id"
    return f"no segment named or numbered {ref!r}"


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    return {f: _jsonable(values[f]) for f in CONTENT_FIELDS}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded).decode().partition(":")
        if kind != "id" or not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor", "not a cursor this API returned") from exc
