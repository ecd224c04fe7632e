"""JSON API for subscribers: /api/v1/subscribers."""

import shutil
import tempfile
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlmodel import Session

from app.accounts.principal import Principal
from app.api_types import NO_NUL, Cursor, EmailPath, PathId, QueryId, documented_pattern
from app.db import unit_of_work
from app.deps import SessionDep, SettingsDep, require_scope
from app.errors import Invalid, NotFound, TooLarge
from app.segments import service as segments
from app.subscribers import importer
from app.subscribers import service as subscribers
from app.subscribers.models import (
    ATTRIBUTE_FILTER_PATTERN,
    SubscriberCreate,
    SubscriberFields,
    SubscriberPublic,
    SubscribersPage,
    SubscriberStatus,
    SubscriberUpdate,
    attribute_name,
)

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"])
Reader = Annotated[Principal, require_scope("subscribers:read")]
Writer = Annotated[Principal, require_scope("subscribers:write")]


class ImportRejection(BaseModel):
    line: int
    reason: str
    email: str = ""


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected_count: int
    rejected: list[ImportRejection]


def _filter(
    session: Session,
    *,
    q: str | None,
    status_: SubscriberStatus | None,
    attribute: list[str],
    segment_id: int | None,
) -> subscribers.SubscriberFilter:
    pairs = []
    for index, item in enumerate(attribute):
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise Invalid(
                f"attribute.{index}", "write filters as key:value, e.g. department:Finance"
            )
        if "\x00" in value:
            raise Invalid(f"attribute.{index}", "a value cannot contain NUL")
        try:
            pairs.append((attribute_name(key), value.strip()))
        except ValueError as exc:
            raise Invalid(f"attribute.{index}", str(exc)) from exc
    clause = None
    if segment_id is not None:
        clause = segments.membership_clause(segments.get(session, segment_id=segment_id))
    return subscribers.SubscriberFilter(
        search=q, status=status_, attributes=tuple(pairs), segment_clause=clause
    )


AttributeFilters = Annotated[
    list[Annotated[str, documented_pattern(ATTRIBUTE_FILTER_PATTERN)]],
    Query(description="key:value, repeatable"),
]


@router.get("", response_model=SubscribersPage)
def list_subscribers(
    session: SessionDep,
    _: Reader,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="Part of email or name")
    ] = None,
    status_: Annotated[SubscriberStatus | None, Query(alias="status")] = None,
    attribute: AttributeFilters = [],  # noqa: B006
    segment_id: QueryId | None = None,
    cursor: Cursor | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SubscribersPage:
    where = _filter(session, q=q, status_=status_, attribute=attribute, segment_id=segment_id)
    rows, next_cursor = subscribers.list_page(session, where=where, cursor=cursor, limit=limit)
    return SubscribersPage(
        items=[SubscriberPublic.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("", response_model=SubscriberPublic, status_code=status.HTTP_201_CREATED)
def create_subscriber(data: SubscriberCreate, session: SessionDep, actor: Writer):
    return subscribers.create(session, data=data, actor=actor)


@router.get("/export.csv", response_class=StreamingResponse)
def export_subscribers(
    request: Request,
    session: SessionDep,
    _: Reader,
    q: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    status_: Annotated[SubscriberStatus | None, Query(alias="status")] = None,
    attribute: AttributeFilters = [],  # noqa: B006
    segment_id: QueryId | None = None,
) -> StreamingResponse:
    where = _filter(session, q=q, status_=status_, attribute=attribute, segment_id=segment_id)
    engine = request.app.state.engine

    # The stream outlives the request's session, so it reads through its own.
    def lines() -> Iterator[str]:
        with unit_of_work(engine) as reader:
            yield from importer.export_csv(reader, where=where.where())

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "description": "UTF-8 CSV, comma or semicolon separated; the header "
                        "row names the columns and has an 'email' column",
                    }
                }
            },
            "required": True,
        }
    },
)
async def import_subscribers(
    request: Request, session: SessionDep, settings: SettingsDep, actor: Writer
) -> ImportResult:
    """Upsert subscribers from a CSV body (text/csv) or a multipart upload field `file`."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        await _spool_body(request, spool, limit=settings.max_import_bytes)
        spool.seek(0)
        report = await run_in_threadpool(importer.import_csv, session, binary=spool, actor=actor)
    finally:
        spool.close()
    return ImportResult.model_validate(report, from_attributes=True)


async def _spool_body(request: Request, spool, *, limit: int) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("file", "send the CSV as the multipart field 'file'")
        shutil.copyfileobj(upload.file, spool)
        return
    if not content_type.startswith(("text/csv", "text/plain", "application/csv")):
        raise Invalid("content-type", "send text/csv, or multipart/form-data with a 'file' field")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise TooLarge(f"the import is larger than {limit} bytes")
        spool.write(chunk)


@router.get("/by-email/{email}", response_model=SubscriberPublic)
def get_by_email(email: EmailPath, session: SessionDep, _: Reader):
    found = subscribers.find_by_email(session, email=email)
    if found is None:
        raise NotFound(f"no subscriber {email}")
    return found


@router.put(
    "/by-email/{email}",
    response_model=SubscriberPublic,
    responses={201: {"model": SubscriberPublic, "description": "Created"}},
)
def upsert_by_email(
    email: EmailPath, data: SubscriberFields, session: SessionDep, actor: Writer, response: Response
):
    """Create or replace the subscriber with this address (201 when created).

    An omitted status keeps the stored one; an unsubscribed, bounced or blocked address is
    not set back to active here (409): that takes a deliberate PATCH.
    """
    subscriber, created = subscribers.upsert(session, email=email, data=data, actor=actor)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return subscriber


# {subscriber_id:int}: /export.csv and /import share the prefix; a wrong method on them is a
# 405, not a 422 for a subscriber id that is not a number.
@router.get("/{subscriber_id:int}", response_model=SubscriberPublic)
def get_subscriber(subscriber_id: PathId, session: SessionDep, _: Reader):
    return subscribers.get(session, subscriber_id=subscriber_id)


@router.patch("/{subscriber_id:int}", response_model=SubscriberPublic)
def update_subscriber(
    subscriber_id: PathId, data: SubscriberUpdate, session: SessionDep, actor: Writer
):
    subscriber = subscribers.get(session, subscriber_id=subscriber_id)
    return subscribers.update(session, subscriber=subscriber, data=data, actor=actor)


@router.delete("/{subscriber_id:int}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscriber(subscriber_id: PathId, session: SessionDep, actor: Writer) -> None:
    subscriber = subscribers.get(session, subscriber_id=subscriber_id)
    subscribers.delete(session, subscriber=subscriber, actor=actor)
