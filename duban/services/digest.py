"""The weekly digest for leads: what is coming, what is late, who reported and who stayed silent."""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from duban.services.access import require_reader, visible_plan_ids
from duban.services.missed_days import MissedDays, missed_days
from duban.services.oversight import OverdueLine, Unanswered, overdue, unanswered
from duban.status import Counts, MilestoneView, Pace, Tally, milestone_views, tally_milestones
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
    silent: Unanswered  # the silent departments, and apart those nobody has joined for
    missed: list[MissedDays]  # stops of the reminder planner lately, with the reminders they cost these plans


def build_digest(*, session: Session, reader: Contact, now: dt.datetime, today: dt.date) -> Digest:
    """Counts come from GROUP BYs (this week and last); only the milestones due soon are read one by one."""
    require_reader(reader)
    plan_ids = visible_plan_ids(session=session, contact=reader)
    week_start = today - dt.timedelta(days=7)
    late = overdue(session=session, reader=reader, today=today)
    now_tallies = _tallies_by_plan(tally_milestones(session=session, today=today, plan_ids=plan_ids))
    last_tallies = _tallies_by_plan(tally_milestones(session=session, today=week_start, plan_ids=plan_ids))
    upcoming: dict[str, list[MilestoneView]] = defaultdict(list)
    for view in milestone_views(
        session=session,
        today=today,
        plan_ids=plan_ids,
        due_from=today,
        due_through=today + dt.timedelta(days=UPCOMING_DAYS),
    ):
        upcoming[view.plan_key].append(view)
    weekly_reports = dict(
        session.exec(
            select(Task.plan_id, func.count())
            .select_from(ProgressReport)
            .join(Milestone, col(Milestone.id) == ProgressReport.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .where(col(Task.plan_id).in_(plan_ids), ProgressReport.reported_at >= now - dt.timedelta(days=7))
            .group_by(col(Task.plan_id))
        ).all()
    )
    plans = []
    for plan in session.exec(select(Plan).where(col(Plan.id).in_(plan_ids)).order_by(Plan.key)).all():
        counts = Counts()
        for tally in now_tallies.get(plan.key, []):
            counts.add(tally.state, tally.count)
        plans.append(
            PlanDigest(
                plan.title,
                counts,
                sorted(upcoming.get(plan.key, []), key=lambda v: v.due_on),
                [o for o in late if o.view.plan_key == plan.key],
                weekly_reports.get(plan.id or 0, 0),
                _paces(now_tallies.get(plan.key, [])),
                _paces(last_tallies.get(plan.key, [])),
            )
        )
    return Digest(
        week_start=week_start,
        today=today,
        plans=plans,
        silent=unanswered(session=session, reader=reader, now=now, today=today),
        missed=missed_days(session=session, reader=reader, today=today),
    )


def _tallies_by_plan(tallies: list[Tally]) -> dict[str, list[Tally]]:
    grouped: dict[str, list[Tally]] = defaultdict(list)
    for tally in tallies:
        grouped[tally.plan_key].append(tally)
    return grouped


def _paces(tallies: list[Tally]) -> dict[Pace, int]:
    paces: Counter[Pace] = Counter()
    for tally in tallies:
        paces[tally.pace] += tally.count
    return dict(paces)
