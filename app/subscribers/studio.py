"""Studio pages for subscribers: search and filters, a detail page, CSV import with a
progress bar and a line-numbered report, and export."""

import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlmodel import Session

from app.db import unit_of_work
from app.deps import SessionDep, StudioUser
from app.errors import Invalid, NotFound
from app.segments import service as segments
from app.subscribers import importer
from app.subscribers import service as subscribers
from app.subscribers.imports import ImportJobs
from app.subscribers.models import Subscriber, SubscriberStatus, attribute_name
from app.web.pages import require, studio_router
from app.web.templating import redirect, render

router = studio_router()
STATUSES = {s.value for s in SubscriberStatus}
PAGE_SIZE = 50
READ, WRITE = "subscribers:read", "subscribers:write"
Search = Annotated[str, Query(max_length=200)]
_JOBS_LOCK = threading.Lock()
Attribute = Annotated[str, Query(max_length=600, description="key:value")]
# A filter form sends "" for "any"; parsed in _where, so an empty choice is no filter.
Choice = Annotated[str, Query(max_length=20)]


@router.get("/subscribers", response_class=HTMLResponse)
def subscriber_list(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    q: Search = "",
    status: Choice = "",
    attribute: Attribute = "",
    segment_id: Choice = "",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
):
    require(ctx, READ, "read subscribers")
    where, error = _where(session, q=q, status=status, attribute=attribute, segment_id=segment_id)
    rows, next_cursor = ([], None) if error else subscribers.list_page(
        session, where=where, cursor=cursor, limit=PAGE_SIZE
    )  # fmt: skip
    context = {
        "user": ctx.user,
        "subscribers": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "filters": {"q": q, "status": status, "attribute": attribute,
                    "segment_id": segment_id},
        "filter_error": error,
        "statuses": list(SubscriberStatus),
        "segments": segments.list_all(session),
        "export_url": "/studio/subscribers/export.csv?" + request.url.query,
    }  # fmt: skip
    return render(
        request,
        "subscribers/list.html",
        context,
        fragment="subscribers/_rows.html",
        status_code=422 if error else 200,
    )


@router.get("/subscribers/export.csv")
def export(
    request: Request,
    session: SessionDep,
    ctx: StudioUser,
    q: Search = "",
    status: Choice = "",
    attribute: Attribute = "",
    segment_id: Choice = "",
) -> StreamingResponse:
    require(ctx, READ, "export subscribers")
    where, error = _where(session, q=q, status=status, attribute=attribute, segment_id=segment_id)
    if error:
        raise Invalid("filter", error)
    engine = request.app.state.engine

    def lines() -> Iterator[str]:  # outlives the request's session: reads through its own
        with unit_of_work(engine) as reader:
            yield from importer.export_csv(reader, where=where.where())

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )


@router.get("/subscribers/import", response_class=HTMLResponse)
def import_form(request: Request, ctx: StudioUser):
    require(ctx, WRITE, "import subscribers")
    return render(request, "subscribers/import.html", {"user": ctx.user, "job": None})


@router.post("/subscribers/import", response_class=HTMLResponse)
def start_import(request: Request, ctx: StudioUser, file: Annotated[UploadFile, File()]):
    require(ctx, WRITE, "import subscribers")
    # The upload is closed when the request ends; the job gets its own copy.
    copy = tempfile.TemporaryFile()  # noqa: SIM115 (the job closes it)
    shutil.copyfileobj(file.file, copy)
    copy.seek(0)
    job = _jobs(request).start(
        request.app.state.engine,
        upload=copy,
        filename=file.filename or "upload.csv",
        actor=ctx.principal,
        user_id=ctx.user.id,
    )
    if request.headers.get("hx-request") != "true":
        return redirect(request, f"/studio/subscribers/import/{job.id}")
    response = render(request, "subscribers/_import_progress.html", {"job": job})
    response.headers["HX-Push-Url"] = f"/studio/subscribers/import/{job.id}"
    return response


@router.get("/subscribers/import/{job_id}", response_class=HTMLResponse)
def import_progress(request: Request, job_id: str, ctx: StudioUser):
    require(ctx, WRITE, "import subscribers")
    job = _jobs(request).get(job_id)
    if job is None or job.started_by != ctx.user.id:
        raise NotFound("no such import here (imports are kept until the app restarts)")
    return render(
        request,
        "subscribers/import.html",
        {"user": ctx.user, "job": job},
        fragment="subscribers/_import_progress.html",
    )


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def subscriber_detail(request: Request, subscriber_id: int, session: SessionDep, ctx: StudioUser):
    require(ctx, READ, "read subscribers")
    subscriber = subscribers.get(session, subscriber_id=subscriber_id)
    memberships = _memberships(session, subscriber)
    return render(
        request,
        "subscribers/detail.html",
        {"user": ctx.user, "subscriber": subscriber, "memberships": memberships},
    )


def _where(
    session: Session,
    *,
    q: str,
    status: str,
    attribute: str,
    segment_id: str,
) -> tuple[subscribers.SubscriberFilter, str | None]:
    """The filter, or why a part of it cannot be read (shown above the list)."""
    if status and status not in STATUSES:
        return subscribers.SubscriberFilter(), f"unknown status {status!r}"
    if segment_id and not segment_id.isdigit():
        return subscribers.SubscriberFilter(), "choose a segment from the list"
    pairs: tuple[tuple[str, str], ...] = ()
    if attribute.strip():
        key, sep, value = attribute.partition(":")
        if not sep:
            return subscribers.SubscriberFilter(), "attribute: write key:value (department:IT)"
        try:
            pairs = ((attribute_name(key), value.strip()),)
        except ValueError as exc:
            return subscribers.SubscriberFilter(), f"attribute: {exc}"
    clause = None
    if segment_id:
        clause = segments.membership_clause(segments.get(session, segment_id=int(segment_id)))
    where = subscribers.SubscriberFilter(
        search=q.strip() or None,
        status=SubscriberStatus(status) if status else None,
        attributes=pairs,
        segment_clause=clause,
    )
    return where, None


def _memberships(session: Session, subscriber: Subscriber) -> list:
    """The segments this subscriber is in (one small query per segment)."""
    return [
        segment
        for segment in segments.list_all(session)
        if segments.count(
            session, clause=segments.membership_clause(segment) & (Subscriber.id == subscriber.id)
        ).member_count
    ]


def _jobs(request: Request) -> ImportJobs:
    state = request.app.state
    with _JOBS_LOCK:  # views run in a thread pool: one registry per app, made once
        if not hasattr(state, "import_jobs"):
            state.import_jobs = ImportJobs()
    return state.import_jobs
