"""Reports: /api/v1/issues/{id}/stats (with /segments and /excerpts) and /api/v1/stats/trend.

All need `stats:read` (every studio role has it; keys need it granted). Each answers JSON, or
CSV with `?format=csv` or `Accept: text/csv`. Counts below DRUMBEAT_REPORT_MIN_CELL are null
in JSON and carry their marker in CSV; docs/engagement.md (Analytics) defines every figure.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.analytics import export
from app.analytics import service as stats
from app.analytics.models import ExcerptStats, IssueStats, SegmentStats, TrendStats
from app.api_types import PathId
from app.deps import SessionDep, SettingsDep, require_scope

router = APIRouter(prefix="/api/v1", tags=["stats"], dependencies=[require_scope("stats:read")])

OutputFormat = Annotated[
    Literal["json", "csv"] | None,
    Query(
        alias="format",
        description="csv for a CSV file (header row, one row per item); "
        "without it, `Accept: text/csv` asks for CSV too",
    ),
]
CSV_RESPONSE = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    409: {"description": "The issue has not been sent: no stats yet"},
    404: {"description": "No such issue"},
}


def _wants_csv(request: Request, output: str | None) -> bool:
    if output is not None:
        return output == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/issues/{issue_id}/stats", response_model=IssueStats, responses=CSV_RESPONSE)
def issue_stats(
    issue_id: PathId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    output: OutputFormat = None,
):
    """The issue's delivery, opens, clicks, unsubscribes and feedback, with its segments and
    excerpts. CSV: one row, the issue's figures."""
    report = stats.issue_stats(session, issue_id=issue_id, min_cell=settings.report_min_cell)
    if _wants_csv(request, output):
        body = export.to_csv([report.issue], export.ISSUE_COLUMNS)
        return _csv(body, f"issue-{report.issue.number}-stats.csv")
    return report


@router.get(
    "/issues/{issue_id}/stats/segments", response_model=SegmentStats, responses=CSV_RESPONSE
)
def segment_stats(
    issue_id: PathId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    output: OutputFormat = None,
):
    """Per target segment: a recipient in two segments counts in both. CSV: one row each."""
    report = stats.segment_stats(session, issue_id=issue_id, min_cell=settings.report_min_cell)
    if _wants_csv(request, output):
        body = export.to_csv(report.segments, export.SEGMENT_COLUMNS)
        return _csv(body, f"issue-{issue_id}-segments.csv")
    return report


@router.get(
    "/issues/{issue_id}/stats/excerpts", response_model=ExcerptStats, responses=CSV_RESPONSE
)
def excerpt_stats(
    issue_id: PathId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    output: OutputFormat = None,
):
    """Per excerpt: clicks on its links and its feedback. CSV: one row each."""
    report = stats.excerpt_stats(session, issue_id=issue_id, min_cell=settings.report_min_cell)
    if _wants_csv(request, output):
        body = export.to_csv(report.excerpts, export.EXCERPT_COLUMNS)
        return _csv(body, f"issue-{issue_id}-excerpts.csv")
    return report


@router.get(
    "/stats/trend",
    response_model=TrendStats,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def trend(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    last: Annotated[int, Query(ge=1, le=100, description="How many sent issues")] = 10,
    output: OutputFormat = None,
):
    """The last N issues whose sending began, oldest first. CSV: one row per issue."""
    report = stats.trend(session, last=last, min_cell=settings.report_min_cell)
    if _wants_csv(request, output):
        return _csv(export.to_csv(report.issues, export.ISSUE_COLUMNS), "stats-trend.csv")
    return report
