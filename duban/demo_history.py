"""【示例数据】 A made-up history of progress reports, so `duban demo` looks like a county in mid-plan.

Only `duban demo` calls this. The history is generated, not observed: every contact it creates is named
"【示例】…" and has no Telegram account (so nothing is ever sent to it), and every report's note starts with
SAMPLE_MARK. A fixed seed makes the same history for the same database and day.

The reports go through the same services the bot uses (`record_report`, `decide_closeout`), so the audit trail,
the 销号 requests and the states `duban status` computes are the ones real replies would produce.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from duban.ledger import load_plans
from duban.recurrence import current_instance, instance_dates
from duban.services.progress import decide_closeout, record_report
from models import (
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Recurrence,
    ReportStatus,
    Task,
    TaskDepartment,
)

SEED = 20231207
SAMPLE_MARK = "【示例数据】"
SAMPLE_PREFIX = "【示例】"
NOTES = {
    ReportStatus.on_track: [
        "按计划推进，已完成约{percent}%。",
        "已召开专题推进会，细化任务清单，完成约{percent}%。",
        "实施方案已印发，正在组织实施，完成约{percent}%。",
    ],
    ReportStatus.at_risk: [
        "资金尚未全部到位，进度可能滞后，完成约{percent}%。",
        "受施工季节影响，存在延期风险，完成约{percent}%。",
    ],
    ReportStatus.blocked: [
        "用地手续尚未办结，工作暂停，需协调。",
        "编制调整需上级批复，暂无法推进。",
    ],
    ReportStatus.done: [
        "已完成，佐证材料已整理归档。",
        "本期工作已完成，报表已报送。",
    ],
}


@dataclass(frozen=True)
class HistorySummary:
    """What the demo database holds once the history is in (it starts with none)."""

    contacts: int
    reports: int
    closed: int  # 销号 approved
    pending: int  # 销号 requested, not yet decided


def load_sample_history(
    *, session: Session, today: dt.date, tz: dt.tzinfo, seed: int = SEED
) -> HistorySummary:
    """Invent reports from each plan's issue up to yesterday, and 销号 for most milestones finished early."""
    if session.get_bind().dialect.name == "sqlite":
        # a throwaway demo file: hundreds of one-report transactions need not each wait for the disk
        session.connection().exec_driver_sql("PRAGMA synchronous=OFF")
    generator = _History(session, random.Random(seed), today, tz)
    # plain values first: every report commits, and a commit expires what the session has loaded
    work: list[tuple[dt.date, Milestone, Contact, Contact]] = []
    for plan in load_plans(session=session):
        leads = {task.id: task.departments(DepartmentRole.lead) for task in plan.tasks}
        busiest = Counter(d.id for departments in leads.values() for d in departments).most_common(1)
        if not busiest:
            continue
        bureau = next(d for departments in leads.values() for d in departments if d.id == busiest[0][0])
        coordinator = generator.contact(bureau, ContactRole.coordinator)
        for task in plan.tasks:
            if not leads[task.id]:
                continue  # nobody to report
            contact = generator.contact(leads[task.id][0], ContactRole.contact)
            work += [(plan.issued_on, _detached(m), contact, coordinator) for m in task.milestones]
    session.commit()
    for issued_on, milestone, contact, coordinator in work:
        if milestone.recurrence == Recurrence.none:
            generator.dated(issued_on, milestone, contact, coordinator)
        else:
            generator.recurring(issued_on, milestone, contact)
    return HistorySummary(
        contacts=len(generator.contacts),
        reports=_count(session, select(func.count()).select_from(ProgressReport)),
        closed=_count(session, select(func.count()).where(Milestone.status == MilestoneStatus.done)),
        pending=_count(session, select(func.count()).where(CloseoutRequest.status == CloseoutStatus.pending)),
    )


DEMO_COORDINATOR = "演示协调员"


def demo_coordinator(*, session: Session) -> Contact:
    """The reader `duban demo --web` signs in as: a coordinator named 演示协调员, with no chat account (nothing is
    ever sent to it), in the busiest lead department of the plan with the most milestones, so the dashboard opens
    on a county in full. A second call finds the first's."""
    plan_id, region = session.exec(
        select(Plan.id, Plan.region)
        .join(Task, col(Task.plan_id) == Plan.id)
        .join(Milestone, col(Milestone.task_id) == Task.id)
        .group_by(col(Plan.id), col(Plan.region))
        .order_by(func.count(col(Milestone.id)).desc(), col(Plan.id))
    ).first() or (None, None)
    if plan_id is None:
        raise ValueError("the demo database has no milestones")  # seeded just before: never
    department_id = session.exec(
        select(TaskDepartment.department_id)
        .join(Task, col(Task.id) == TaskDepartment.task_id)
        .where(Task.plan_id == plan_id, TaskDepartment.role == DepartmentRole.lead)
        .group_by(col(TaskDepartment.department_id))
        .order_by(func.count().desc(), col(TaskDepartment.department_id))
    ).first()
    assert department_id is not None and region is not None
    found = session.exec(
        select(Contact)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(Contact.name == DEMO_COORDINATOR, Department.region == region)
    ).first()
    if found is not None:
        return found
    coordinator = Contact(department_id=department_id, role=ContactRole.coordinator, name=DEMO_COORDINATOR)
    session.add(coordinator)
    session.commit()
    session.refresh(coordinator)
    return coordinator


def _detached(milestone: Milestone) -> Milestone:
    """A copy outside the session: reading its dates never reloads it."""
    return Milestone(
        id=milestone.id,
        task_id=milestone.task_id,
        due_on=milestone.due_on,
        target="",
        recurrence=milestone.recurrence,
        until=milestone.until,
    )


def _count(session: Session, statement: Any) -> int:
    return int(session.exec(statement).one())


class _History:
    def __init__(self, session: Session, rng: random.Random, today: dt.date, tz: dt.tzinfo) -> None:
        self.session, self.rng, self.today, self.tz = session, rng, today, tz
        self.contacts: dict[tuple[int, ContactRole], Contact] = {}

    def contact(self, department: Department, role: ContactRole) -> Contact:
        key = (department.id or 0, role)
        if key not in self.contacts:
            title = "督办员" if role == ContactRole.coordinator else "联络员"
            contact = Contact(
                department_id=key[0], role=role, name=f"{SAMPLE_PREFIX}{department.name}{title}"
            )
            self.session.add(contact)
            self.session.flush()
            self.contacts[key] = contact
        return self.contacts[key]

    def dated(self, start: dt.date, milestone: Milestone, contact: Contact, coordinator: Contact) -> None:
        """Milestones past due: most closed, some short of done, some never reported; later ones on their way."""
        due = milestone.due_on
        last_day = self.today - dt.timedelta(days=1)
        roll = self.rng.random()
        if due <= last_day:
            # past due: most closed on time, some reported but unfinished, some never heard of
            if roll < 0.7:
                finished = max(start + dt.timedelta(days=1), due - dt.timedelta(days=self.rng.randint(3, 40)))
                self._progress(milestone, contact, start, finished, final=90)
                self._report(milestone, contact, finished, ReportStatus.done, 100)
                approved = min(last_day, finished + dt.timedelta(days=self.rng.randint(1, 6)))
                self._approve(milestone, coordinator, approved)
            elif roll < 0.88:
                self._progress(milestone, contact, start, last_day, final=self.rng.randint(40, 85))
            return
        elapsed = (self.today - start).days / max(1, (due - start).days)
        on_pace = round(min(95, max(5, elapsed * 100)))
        if roll < 0.5:
            self._progress(milestone, contact, start, last_day, final=on_pace)
        elif roll < 0.7:
            self._progress(
                milestone, contact, start, last_day, final=max(0, on_pace - self.rng.randint(35, 50))
            )
        elif roll < 0.8:
            self._progress(milestone, contact, start, last_day, final=on_pace, last=ReportStatus.at_risk)
        elif roll < 0.85:
            self._progress(milestone, contact, start, last_day, final=on_pace // 2, last=ReportStatus.blocked)
        # else: not a word yet (⚪)

    def recurring(self, issued_on: dt.date, milestone: Milestone, contact: Contact) -> None:
        """Most periods answered a little before they fall due; the current one sometimes already."""
        yesterday = self.today - dt.timedelta(days=1)
        for due in instance_dates(milestone, through=yesterday):
            if self.rng.random() < 0.8:
                on = max(issued_on, due - dt.timedelta(days=self.rng.randint(1, 15)))
                self._report(milestone, contact, on, ReportStatus.done, 100)
        previous, current = current_instance(milestone, today=self.today)
        started = max(issued_on, previous or issued_on)
        if current >= self.today and started < yesterday and self.rng.random() < 0.5:
            on = started + dt.timedelta(days=self.rng.randint(0, (yesterday - started).days))
            self._report(milestone, contact, on, ReportStatus.on_track, self.rng.randint(20, 70))

    def _progress(
        self,
        milestone: Milestone,
        contact: Contact,
        start: dt.date,
        end: dt.date,
        *,
        final: int,
        last: ReportStatus = ReportStatus.on_track,
    ) -> None:
        """Reports every one to three months from start to end, rising to `final` percent."""
        days: list[dt.date] = []
        day = start + dt.timedelta(days=self.rng.randint(20, 90))
        while day <= end:
            days.append(day)
            day += dt.timedelta(days=self.rng.randint(60, 150))
        if not days and start < end:
            days = [end]
        for number, day in enumerate(days, start=1):
            status = last if number == len(days) else ReportStatus.on_track
            self._report(milestone, contact, day, status, round(final * number / len(days)))

    def _report(
        self, milestone: Milestone, contact: Contact, day: dt.date, status: ReportStatus, percent: int
    ) -> None:
        note = self.rng.choice(NOTES[status]).format(percent=percent)
        record_report(
            session=self.session,
            contact=contact,
            milestone_id=milestone.id or 0,
            status=status,
            percent=percent,
            note=f"{SAMPLE_MARK}{note}",
            now=self._office_hours(day),
            tz=self.tz,
        )

    def _approve(self, milestone: Milestone, coordinator: Contact, day: dt.date) -> None:
        closeout = self.session.exec(
            select(CloseoutRequest).where(
                CloseoutRequest.milestone_id == milestone.id, CloseoutRequest.status == CloseoutStatus.pending
            )
        ).one()
        decide_closeout(
            session=self.session,
            coordinator=coordinator,
            closeout_id=closeout.id or 0,
            approve=True,
            reason="",
            now=self._office_hours(day),
            tz=self.tz,
        )

    def _office_hours(self, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(
            day, dt.time(self.rng.randint(9, 16), self.rng.randint(0, 59)), tzinfo=self.tz
        )
        return local.astimezone(dt.UTC)
