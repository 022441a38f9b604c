"""The weekly digest for leads: what is coming, what is late, who reported and who stayed silent."""

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from duban.services.access import require_reader, visible_plan_ids
from duban.services.oversight import OverdueLine, SilentDepartment, overdue, silent_departments
from duban.status import Counts, MilestoneView, Pace, milestone_views
from models import Contact, Milestone, Plan, ProgressReport, Task

UPCOMING_DAYS = 90


@dataclass(frozen=True)
class PlanDigest:
    plan_title: str
    counts: Counts
    upcoming: list[MilestoneView]
    overdue: list[OverdueLine]
    reports_this_week: int
    pace: dict[Pace, int]
    pace_last_week: dict[Pace, int]


@dataclass(frozen=True)
class Digest:
    week_start: dt.date
    today: dt.date
    plans: list[PlanDigest]
    silent: list[SilentDepartment]


def build_digest(*, session: Session, reader: Contact, now: dt.datetime, today: dt.date) -> Digest:
    require_reader(reader)
    plan_ids = visible_plan_ids(session=session, contact=reader)
    week_start = today - dt.timedelta(days=7)
    late = overdue(session=session, reader=reader, today=today)
    plans = []
    for plan in session.exec(select(Plan).where(col(Plan.id).in_(plan_ids)).order_by(Plan.key)).all():
        views = milestone_views(session=session, today=today, plan_ids=[plan.id or 0])
        last_week = milestone_views(session=session, today=week_start, plan_ids=[plan.id or 0])
        counts = Counts()
        for view in views:
            counts.add(view.state)
        upcoming = sorted(
            (v for v in views if today <= v.due_on <= today + dt.timedelta(days=UPCOMING_DAYS)),
            key=lambda v: v.due_on,
        )
        weekly_reports = session.exec(
            select(func.count())
            .select_from(ProgressReport)
            .join(Milestone, col(Milestone.id) == ProgressReport.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .where(Task.plan_id == plan.id, ProgressReport.reported_at >= now - dt.timedelta(days=7))
        ).one()
        plans.append(
            PlanDigest(
                plan.title,
                counts,
                upcoming,
                [o for o in late if o.view.plan_key == plan.key],
                weekly_reports,
                Counter(v.pace for v in views),
                Counter(v.pace for v in last_week),
            )
        )
    return Digest(
        week_start=week_start,
        today=today,
        plans=plans,
        silent=silent_departments(session=session, reader=reader, now=now),
    )
