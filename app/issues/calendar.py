"""The publishing calendar: a cadence that keeps the next issues planned ahead."""

from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import Session

from app.accounts.principal import Principal
from app.audit.service import record
from app.errors import Invalid
from app.issues import service as issues
from app.issues.models import (
    CalendarPublic,
    CalendarSetting,
    CalendarUpdate,
    Issue,
    IssueCreate,
    IssueKind,
    IssueStatus,
    IssueSummary,
)


def current(session: Session) -> CalendarSetting:
    """The stored setting, or the defaults (every two weeks on Thursday) before any is saved."""
    return session.scalar(select(CalendarSetting).limit(1)) or CalendarSetting()


def overview(session: Session, *, today: date) -> CalendarPublic:
    setting = current(session)
    upcoming = session.scalars(
        select(Issue)
        .where(
            Issue.planned_date >= today,
            Issue.kind == IssueKind.regular,
            Issue.status != IssueStatus.cancelled,
        )
        .order_by(Issue.planned_date, Issue.number)
    )
    return CalendarPublic(
        **setting.model_dump(exclude={"id"}),
        upcoming=[IssueSummary.model_validate(i) for i in upcoming],
    )


def update(
    session: Session, *, data: CalendarUpdate, actor: Principal, today: date
) -> CalendarPublic:
    """Change the cadence, then plan the issues it calls for."""
    setting = current(session)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        # Only the default owner can be unset; the other settings always have a value.
        if value is None and name != "default_owner_id":
            raise Invalid(name, "may be omitted, but not null")
    if changes.get("default_owner_id") is not None:
        issues.check_user(session, user_id=changes["default_owner_id"], field="default_owner_id")
    if changes.get("default_segment_ids") is not None:
        changes["default_segment_ids"] = issues.existing_segment_ids(
            session, changes["default_segment_ids"], field="default_segment_ids"
        )
    if changes.get("title_template") is not None and "{number}" not in changes["title_template"]:
        changes["title_template"] += " #{number}"
    for name, value in changes.items():
        setattr(setting, name, value)
    session.add(setting)
    session.flush()
    record(
        session,
        actor=actor,
        action="calendar.updated",
        object_type="calendar",
        details={"fields": sorted(changes)},
    )
    plan_ahead(session, actor=actor, today=today)
    return overview(session, today=today)


def plan_ahead(session: Session, *, actor: Principal, today: date) -> list[Issue]:
    """Create regular issues until `plan_ahead` are planned from today on; returns new ones."""
    setting = current(session)
    planned = list(
        session.scalars(
            select(Issue.planned_date)
            .where(
                Issue.planned_date >= today,
                Issue.kind == IssueKind.regular,
                Issue.status != IssueStatus.cancelled,
            )
            .order_by(Issue.planned_date)
        )
    )
    created = []
    last = planned[-1] if planned else None
    for _ in range(setting.plan_ahead - len(planned)):
        last = (
            last + timedelta(days=setting.cadence_days)
            if last
            else next_weekday(today, setting.weekday)
        )
        number = issues.next_number(session)
        issue = issues.create(
            session,
            actor=actor,
            data=IssueCreate(
                title=setting.title_template.replace("{number}", str(number)),
                planned_date=last,
                owner_id=setting.default_owner_id,
                segment_ids=setting.default_segment_ids,
            ),
        )
        created.append(issue)
    return created


def next_weekday(today: date, weekday: int) -> date:
    """The next date on that weekday, today included."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)
