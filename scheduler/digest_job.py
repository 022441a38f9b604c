"""The weekly digest for leads goes into the outbox as text pages plus one chart, sent as a photo."""

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot import views
from bot.i18n import gettext_for
from bot.pages import paginate
from duban.services.access import visible_plan_ids
from duban.services.digest import build_digest
from duban.services.outbox import enqueue
from duban.status import Pace, milestone_views
from models import Contact, ContactRole, Department, DepartmentRole, Milestone, Notification, TaskDepartment
from models.people import reachable
from scheduler.workdays import next_allowed_moment

if TYPE_CHECKING:
    from duban.chart import ChartRow  # imported where used at run time: it pulls in matplotlib

CHART_KIND = "digest_chart"


def plan_digests(*, session: Session, now: dt.datetime, tz: ZoneInfo) -> int:
    today = now.astimezone(tz).date()
    year, week, _ = today.isocalendar()
    due_at = next_allowed_moment(now, tz=tz)
    queued = 0
    leads = session.exec(select(Contact).where(Contact.role == ContactRole.lead, reachable())).all()
    for lead in leads:
        _ = gettext_for(lead.language)
        digest = build_digest(session=session, reader=lead, now=now, today=today)
        key = f"digest:{year}-W{week:02d}:c{lead.id}"
        if enqueue(
            session=session,
            key=f"{key}:chart",
            kind=CHART_KIND,
            contact=lead,
            text=views.chart_caption(_, today),
            due_at=due_at,
        ):
            queued += 1
        for number, page in enumerate(paginate(views.digest_entries(_, digest))):
            if enqueue(
                session=session, key=f"{key}:p{number}", kind="digest", contact=lead, text=page, due_at=due_at
            ):
                queued += 1
    session.commit()
    return queued


def chart_rows(*, session: Session, reader: Contact, today: dt.date) -> "list[ChartRow]":
    """Pace counts per lead department over the plans the reader sees."""
    from duban.chart import ChartRow

    views_ = milestone_views(
        session=session, today=today, plan_ids=visible_plan_ids(session=session, contact=reader)
    )
    ids = [v.milestone_id for v in views_]
    leads: dict[int, list[str]] = defaultdict(list)
    for milestone_id, name in session.exec(
        select(Milestone.id, Department.name)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .join(Department, col(Department.id) == TaskDepartment.department_id)
        .where(col(Milestone.id).in_(ids), TaskDepartment.role == DepartmentRole.lead)
    ).all():
        leads[milestone_id or 0].append(name)
    counts: dict[str, Counter[Pace]] = defaultdict(Counter)
    for view in views_:
        for name in leads.get(view.milestone_id, ["—"]):
            counts[name][view.pace] += 1
    return [
        ChartRow(
            label=name,
            green=c[Pace.green],
            amber=c[Pace.amber],
            red=c[Pace.red],
            grey=c[Pace.grey],
            done=c[Pace.done],
        )
        for name, c in sorted(counts.items())
    ]


def digest_photo(session: Session, notification: Notification) -> bytes | None:
    """The chart is drawn when it is sent, from the database as it then stands."""
    if notification.kind != CHART_KIND or notification.contact_id is None:
        return None
    from duban.chart import render_progress_chart

    reader = session.get(Contact, notification.contact_id)
    if reader is None:
        return None
    today = notification.due_at.date()
    _ = gettext_for(reader.language)
    return render_progress_chart(
        chart_rows(session=session, reader=reader, today=today), title=views.chart_caption(_, today)
    )
