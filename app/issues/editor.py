"""The issue editor's excerpts in the studio: a row opens in place as a form (headline, kind,
theme, text, link, section, the segments it is shown to) or as its framings per target
segment. Each URL is a bookmarkable page with that part open, or only the row for htmx.

Same service calls as the API's PATCH /excerpts/{id} and PUT/DELETE .../framings/{segment}.
A refused change is undone (rolled back) before the form is shown again with its reasons.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.accounts.principal import ISSUES_WRITE
from app.delivery.studio import sending_context
from app.deps import SessionDep, StudioContext, StudioUser
from app.errors import Invalid
from app.issues import overview
from app.issues import service as issues
from app.issues.models import ExcerptKind, ExcerptUpdate, FramingPut, Issue, IssueDetail
from app.segments import service as segments
from app.web.pages import require
from app.web.templating import is_htmx, redirect, render

# Included by app/issues/studio.py's router, which adds the /studio prefix and the CSRF check.
router = APIRouter()
READ = "issues:read"
EXCERPT = "/issues/{issue_id}/excerpts/{excerpt_id}"
# Generous caps: the model's own limits give the readable message, these stop abuse.
Text = Annotated[str, Form(max_length=60_000)]
Line = Annotated[str, Form(max_length=3000)]


def content_context(session: Session, ctx: StudioContext, issue: Issue, **extra) -> dict:
    """What the content, its rows, the workflow and the preview show."""
    detail = overview.detail(session, issue=issue)
    return {
        "user": ctx.user,
        "detail": detail,
        "segment_names": {s.id: s.name for s in segments.list_all(session)},
        "preview_for": next(iter(detail.segment_ids), None),
        **extra,
    }


def page_context(session: Session, ctx: StudioContext, issue: Issue, **extra) -> dict:
    """Everything the issue page shows: the sending panel too (it counts the audience)."""
    return {
        **content_context(session, ctx, issue, **extra),
        **sending_context(session, issue_id=issue.id),
    }


def _context(request: Request, session: Session, ctx, issue: Issue, **extra) -> dict:
    """A row's context for htmx, the page's without it (the same URL serves both)."""
    make = content_context if is_htmx(request) else page_context
    return make(session, ctx, issue, **extra)


def changed(response: Response, *, status_before: str, issue: Issue) -> Response:
    """Tell the page the content changed (the preview reloads), and whether the status did
    (an approved issue goes back to draft: the workflow and sending panels reload)."""
    events = ["issue-changed"]
    if issue.status != status_before:
        events.append("issue-status-changed")
    response.headers["HX-Trigger"] = ", ".join(events)
    return response


@router.get(EXCERPT, response_class=HTMLResponse)
def excerpt_row(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    session: SessionDep,
    ctx: StudioUser,
    focus: Annotated[Literal["edit", "framings", ""], Query()] = "",
):
    """The row as listed (Cancel and Close come back here, `focus` on the button used)."""
    require(ctx, READ, "read issues")
    issue = issues.get(session, issue_id=issue_id)
    issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    context = _context(request, session, ctx, issue, focus=f"{focus}-{excerpt_id}")
    context["row"] = _locate(context["detail"], excerpt_id)
    return render(request, "issues/page.html", context, fragment="issues/_excerpt.html")


@router.get(EXCERPT + "/edit", response_class=HTMLResponse)
def edit_form(
    request: Request, issue_id: int, excerpt_id: int, session: SessionDep, ctx: StudioUser
):
    require(ctx, ISSUES_WRITE, "edit excerpts")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    values = {
        **excerpt.model_dump(include={"headline", "kind", "theme", "cta_label", "cta_url"}),
        "body": excerpt.body_md,
        "section_id": excerpt.section_id,
        "segment_filter": excerpt.segment_filter,
    }
    return _form(request, session, ctx, issue, excerpt_id, values=values, errors={})


@router.post(EXCERPT + "/edit", response_class=HTMLResponse)
def save_excerpt(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    session: SessionDep,
    ctx: StudioUser,
    headline: Line = "",
    kind: Line = "",
    theme: Line = "",
    body: Text = "",
    cta_label: Line = "",
    cta_url: Line = "",
    section_id: Line = "",
    segment_filter: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
) -> Response:
    """Save the form; a changed section moves the excerpt to the end of that section."""
    require(ctx, ISSUES_WRITE, "edit excerpts")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    status_before, section_before = issue.status, excerpt.section_id
    values = {"headline": headline, "kind": kind, "theme": theme, "body": body,
              "cta_label": cta_label, "cta_url": cta_url, "section_id": section_id,
              "segment_filter": segment_filter}  # fmt: skip
    try:
        chosen = _ids(segment_filter, "segment_filter")
        # Blanks alone would pass the model's length check, then be stripped away.
        data = ExcerptUpdate.model_validate(
            {**values, "headline": headline.strip(), "segment_filter": chosen}
        )
        target = _section_id(session, issue, section_id, default=section_before)
        issues.update_excerpt(session, issue=issue, excerpt=excerpt, data=data, actor=ctx.principal)
        if target != section_before:
            issues.move_excerpt(session, issue=issue, excerpt=excerpt, section_id=target,
                                position=10_000, actor=ctx.principal)  # fmt: skip
    except (ValidationError, Invalid) as exc:
        session.rollback()  # nothing of a refused change stays, not even "back to draft"
        return _form(request, session, ctx, issue, excerpt_id, values=values,
                     errors=_reasons(exc), status_code=422)  # fmt: skip
    if not is_htmx(request):
        return redirect(request, f"/studio/issues/{issue_id}#excerpt-{excerpt_id}")
    session.flush()
    context = content_context(session, ctx, issue, focus=f"edit-{excerpt_id}")
    if excerpt.section_id != section_before:
        response = render(request, "issues/_content.html", context)
        response.headers.update({"HX-Retarget": "#issue-content", "HX-Reswap": "outerHTML"})
    else:
        context["row"] = _locate(context["detail"], excerpt_id)
        response = render(request, "issues/_excerpt_saved.html", context)
    return changed(response, status_before=status_before, issue=issue)


@router.get(EXCERPT + "/framings", response_class=HTMLResponse)
def framings(
    request: Request, issue_id: int, excerpt_id: int, session: SessionDep, ctx: StudioUser
):
    """The text each target segment reads instead of the default body, one form each."""
    require(ctx, ISSUES_WRITE, "frame excerpts")
    issue = issues.get(session, issue_id=issue_id)
    issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    context = _framings_context(request, session, ctx, issue, excerpt_id, state=None)
    return render(request, "issues/page.html", context, fragment="issues/_framings.html")


@router.post(EXCERPT + "/framings/{segment_id}", response_class=HTMLResponse)
def save_framing(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    segment_id: int,
    session: SessionDep,
    ctx: StudioUser,
    body: Text = "",
) -> Response:
    require(ctx, ISSUES_WRITE, "frame excerpts")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    status_before = issue.status
    try:
        data = FramingPut.model_validate({"body": body.strip() and body})
        issues.put_framing(session, issue=issue, excerpt=excerpt, segment_id=segment_id,
                           body=data.body, actor=ctx.principal)  # fmt: skip
    except (ValidationError, Invalid) as exc:
        session.rollback()
        reason = "write what this segment reads, or remove the framing"
        errors = {"body": reason if isinstance(exc, ValidationError) else exc.detail}
        return _framing(request, session, ctx, issue, excerpt_id, segment_id,
                        body=body, errors=errors, status_code=422)  # fmt: skip
    response = _framing(request, session, ctx, issue, excerpt_id, segment_id, saved="saved")
    return changed(response, status_before=status_before, issue=issue)


@router.post(EXCERPT + "/framings/{segment_id}/delete", response_class=HTMLResponse)
def delete_framing(
    request: Request,
    issue_id: int,
    excerpt_id: int,
    segment_id: int,
    session: SessionDep,
    ctx: StudioUser,
) -> Response:
    require(ctx, ISSUES_WRITE, "frame excerpts")
    issue = issues.get(session, issue_id=issue_id)
    excerpt = issues.get_excerpt(session, issue=issue, excerpt_id=excerpt_id)
    status_before = issue.status
    issues.delete_framing(session, issue=issue, excerpt=excerpt, segment_id=segment_id,
                          actor=ctx.principal)  # fmt: skip
    response = _framing(request, session, ctx, issue, excerpt_id, segment_id, saved="removed")
    return changed(response, status_before=status_before, issue=issue)


def _form(request, session, ctx, issue, excerpt_id, *, values, errors, status_code=200):
    context = _context(request, session, ctx, issue, editing=excerpt_id, values=values,
                       errors=errors, kinds=list(ExcerptKind))  # fmt: skip
    context["row"] = _locate(context["detail"], excerpt_id)
    return render(request, "issues/page.html", context, fragment="issues/_excerpt_form.html",
                  status_code=status_code)  # fmt: skip


def _framing(request, session, ctx, issue, excerpt_id, segment_id, *, body=None, errors=None,
             saved=None, status_code=200):  # fmt: skip
    """One segment's framing form for htmx; without htmx the page with the framings open."""
    if not is_htmx(request) and status_code == 200:
        return redirect(request, f"/studio/issues/{issue.id}/excerpts/{excerpt_id}/framings")
    session.flush()
    state = {"segment_id": segment_id, "body": body, "errors": errors or {}, "saved": saved}
    context = _framings_context(request, session, ctx, issue, excerpt_id, state=state)
    context["f"] = next(f for f in context["framing_forms"] if f["segment_id"] == segment_id)
    return render(request, "issues/page.html", context, fragment="issues/_framing.html",
                  status_code=status_code)  # fmt: skip


def _framings_context(request, session, ctx, issue, excerpt_id, *, state: dict | None) -> dict:
    """The page with one excerpt's framings open: a form per target segment (and per
    segment framed before it stopped being a target), `state` overriding one of them."""
    context = _context(request, session, ctx, issue, framing=excerpt_id)
    row = context["row"] = _locate(context["detail"], excerpt_id)
    current = {f.segment_id: f.body_md for f in row["excerpt"].framings}
    forms = []
    asked = {state["segment_id"]} if state else set()
    for segment_id in sorted({*context["detail"].segment_ids, *current, *asked}):
        form = {"segment_id": segment_id, "framed": segment_id in current,
                "body": current.get(segment_id, ""), "errors": {}, "saved": None}  # fmt: skip
        if state and state["segment_id"] == segment_id:
            form |= {k: v for k, v in state.items() if v is not None}
        forms.append(form)
    context["framing_forms"] = forms
    return context


def _locate(detail: IssueDetail, excerpt_id: int) -> dict:
    """The excerpt with its section and place in it (a row's Up and Down need them)."""
    for section in detail.sections:
        for index, excerpt in enumerate(section.excerpts):
            if excerpt.id == excerpt_id:
                return {"section": section, "excerpt": excerpt, "index": index,
                        "count": len(section.excerpts)}  # fmt: skip
    raise AssertionError(f"excerpt {excerpt_id} is not in issue {detail.id}")


def _section_id(session: Session, issue: Issue, raw: str, *, default: int) -> int:
    if not raw:
        return default
    if not raw.isdigit():
        raise Invalid("section_id", "pick a section of this issue")
    sections = issues.sections_of(session, issue_id=issue.id)
    if int(raw) not in {s.id for s in sections}:
        raise Invalid("section_id", "pick a section of this issue")
    return int(raw)


def _ids(raw: list[str], field: str) -> list[int]:
    if not all(value.isdigit() for value in raw):
        raise Invalid(field, "pick segments from the list")
    return [int(value) for value in raw]


FRIENDLY = {
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must be a web address starting with https:// or http://",
    "enum": "pick one of the kinds listed",
}


def _reasons(exc: ValidationError | Invalid) -> dict[str, str]:
    """Field -> a reason people understand."""
    if isinstance(exc, Invalid):
        return {e["field"].split(".")[0]: e["reason"] for e in exc.errors}
    reasons = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "headline"
        reasons.setdefault(field, FRIENDLY.get(error["type"], error["msg"]))
    return reasons
