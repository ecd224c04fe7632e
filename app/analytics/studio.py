"""Analytics in the studio: the trend over the last sent issues and one issue's figures, as
inline SVG charts with the numbers in tables beside them, and the same CSV as the API.

The views call the report services the API calls (app/analytics/api.py), so small cells are
hidden before anything reaches a template; a chart shows a hidden cell as its marker text
("fewer than 10"), never as a number. The pages may run STUDIO_LAG behind readers' newest
hits (the page says so); the CSV downloads, like the API, are exact.
"""

from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from app.analytics import charts, export
from app.analytics import service as stats
from app.analytics.models import ExcerptFigures, IssueFigures, SegmentFigures
from app.deps import SessionDep, SettingsDep, StudioUser
from app.errors import Conflict
from app.issues import service as issues
from app.web.pages import require, studio_router
from app.web.templating import render

router = studio_router()
READ = "stats:read"
TREND_CHOICES = (6, 12, 24, 50, 100)
Last = Annotated[int, Query(ge=1, le=100, description="How many sent issues")]
# table in the URL -> the API's CSV of the same report (columns and file name alike).
CSV_TABLES = Literal["issue", "segments", "excerpts"]


@router.get("/analytics", response_class=HTMLResponse)
def trend_page(
    request: Request, session: SessionDep, settings: SettingsDep, ctx: StudioUser, last: Last = 12
):
    require(ctx, READ, "read analytics")
    report = stats.trend(
        session, last=last, min_cell=settings.report_min_cell, lag=stats.STUDIO_LAG
    )
    context = {
        "lag": stats.STUDIO_LAG.seconds,
        "user": ctx.user,
        "report": report,
        "last": last,
        "choices": sorted({*TREND_CHOICES, last}),
        "machine_opens": machine_opens,
        **trend_charts(report.issues),
    }
    return render(request, "analytics/trend.html", context, fragment="analytics/_trend.html")


@router.get("/analytics/trend.csv")
def trend_csv(session: SessionDep, settings: SettingsDep, ctx: StudioUser, last: Last = 12):
    require(ctx, READ, "read analytics")
    report = stats.trend(session, last=last, min_cell=settings.report_min_cell)
    return _csv(export.to_csv(report.issues, export.ISSUE_COLUMNS), "stats-trend.csv")


@router.get("/issues/{issue_id}/analytics", response_class=HTMLResponse)
def issue_page(
    request: Request, issue_id: int, session: SessionDep, settings: SettingsDep, ctx: StudioUser
):
    require(ctx, READ, "read analytics")
    try:
        report = stats.issue_stats(
            session, issue_id=issue_id, min_cell=settings.report_min_cell, lag=stats.STUDIO_LAG
        )
    except Conflict as exc:  # not sent yet: say so on a studio page, as the API says 409
        issue = issues.get(session, issue_id=issue_id)
        context = {"user": ctx.user, "issue": issue, "reason": exc.detail}
        return render(request, "analytics/not_sent.html", context, status_code=409)
    context = {
        "lag": stats.STUDIO_LAG.seconds,
        "user": ctx.user,
        "report": report,
        "issue": report.issue,
        "machine_opens": machine_opens,
        "segment_chart": segment_chart(report.segments),
        "excerpt_clicks": excerpt_click_chart(report.excerpts),
        "excerpt_feedback": excerpt_feedback_chart(report.excerpts),
    }
    return render(request, "analytics/issue.html", context)


@router.get("/issues/{issue_id}/analytics/{table}.csv")
def issue_csv(
    issue_id: int, table: CSV_TABLES, session: SessionDep, settings: SettingsDep, ctx: StudioUser
):
    require(ctx, READ, "read analytics")
    min_cell = settings.report_min_cell
    if table == "issue":
        report = stats.issue_stats(session, issue_id=issue_id, min_cell=min_cell)
        body = export.to_csv([report.issue], export.ISSUE_COLUMNS)
        return _csv(body, f"issue-{report.issue.number}-stats.csv")
    if table == "segments":
        rows = stats.segment_stats(session, issue_id=issue_id, min_cell=min_cell).segments
        return _csv(export.to_csv(rows, export.SEGMENT_COLUMNS), f"issue-{issue_id}-segments.csv")
    rows = stats.excerpt_stats(session, issue_id=issue_id, min_cell=min_cell).excerpts
    return _csv(export.to_csv(rows, export.EXCERPT_COLUMNS), f"issue-{issue_id}-excerpts.csv")


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def machine_opens(row: IssueFigures | SegmentFigures) -> int | None:
    """Openers seen only through machines (privacy proxies, scanners): raw minus human.
    Both are shown already, so their difference reveals nothing new; None if either is
    hidden."""
    if row.unique_opens_raw is None or row.unique_opens_human is None:
        return None
    return row.unique_opens_raw - row.unique_opens_human


def trend_charts(rows: list[IssueFigures]) -> dict[str, charts.LineChart | None]:
    """Open and click rates over the issues, the human estimate beside all opens."""
    if not rows:
        return {"open_chart": None, "click_chart": None}
    labels = [f"#{row.number}" for row in rows]
    opens = charts.line_chart(
        labels,
        [
            ("Estimated human", "human", [r.open_rate_human for r in rows]),
            ("All, machines included", "raw", [r.open_rate_raw for r in rows]),
        ],
    )
    clicks = charts.line_chart(
        labels,
        [
            ("Estimated human", "human", [r.click_rate_human for r in rows]),
            ("All, machines included", "raw", [r.click_rate_raw for r in rows]),
        ],
    )
    return {"open_chart": opens, "click_chart": clicks}


def _bar(row, name: str, field: str, css: str) -> tuple[str, str, float | None, str | None]:
    return (name, css, getattr(row, field), row.hidden.get(field))


def segment_chart(rows: list[SegmentFigures]) -> charts.BarChart | None:
    if not rows:
        return None
    return charts.bar_chart(
        [
            (
                row.segment_name,
                [
                    _bar(row, "Opened (human)", "open_rate_human", "human"),
                    _bar(row, "Opened (all)", "open_rate_raw", "raw"),
                    _bar(row, "Clicked (human)", "click_rate_human", "click"),
                ],
            )
            for row in rows
        ]
    )


def excerpt_click_chart(rows: list[ExcerptFigures]) -> charts.BarChart | None:
    if not rows:
        return None
    return charts.bar_chart(
        [
            (
                f"{row.position}. {row.headline}",
                [
                    _bar(row, "Clicks (human)", "clicks_human", "human"),
                    _bar(row, "Clicks (all)", "clicks_raw", "raw"),
                ],
            )
            for row in rows
        ],
        percent=False,
    )


def excerpt_feedback_chart(rows: list[ExcerptFigures]) -> charts.BarChart | None:
    if not rows:
        return None
    return charts.bar_chart(
        [
            (
                f"{row.position}. {row.headline}",
                [_bar(row, "Found it useful", "feedback_useful_share", "useful")],
            )
            for row in rows
        ]
    )
