"""What each dashboard page shows, for one reader: the plans of their county, as their role allows in chat.

Every function takes the signed-in contact and checks it the way the chat does (require_reader,
visible_plan_ids, department_by_id). Anything outside the reader's county raises NotFound, exactly as an id that
does not exist: the pages cannot be used to find out what other counties have.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import exists
from sqlalchemy import select as sa_select  # more columns than sqlmodel.select types
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, func, select

from duban.chunks import in_parts
from duban.services.access import (
    region_of,
    require_coordinator,
    require_reader,
    visible_milestone,
    visible_plan_ids,
)
from duban.services.errors import NotFound
from duban.services.oversight import OverdueLine, department_by_id, overdue
from duban.services.progress import pending_closeouts
from duban.services.recipients import Because, who_must_hear
from duban.status import MilestoneState, MilestoneView, Pace, milestone_views
from duban.tongbao import DepartmentRef, Departments, departments_by_milestone
from models import (
    CloseoutRequest,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Milestone,
    Notification,
    Plan,
    ProgressReport,
    Recurrence,
    ReportStatus,
    Task,
    TaskDepartment,
)
from models.people import newest_first
from scheduler.escalation import EscalationPolicy
from scheduler.told import sent_or_waiting

WEEK = dt.timedelta(days=7)
COLOURS = (Pace.green, Pace.amber, Pace.red, Pace.grey, Pace.done)


def visible_plans(*, session: Session, reader: Contact) -> list[Plan]:
    require_reader(reader)
    ids = visible_plan_ids(session=session, contact=reader)
    return list(session.exec(select(Plan).where(col(Plan.id).in_(ids)).order_by(col(Plan.key))).all())


def visible_plan(*, session: Session, reader: Contact, plan_id: int) -> Plan:
    require_reader(reader)
    plan = session.get(Plan, plan_id)
    if plan is None or plan_id not in visible_plan_ids(session=session, contact=reader):
        raise NotFound(str(plan_id))
    return plan


# --- the county overview -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Milestones by pace colour, plus how many are overdue."""

    pace: Counter[Pace] = field(default_factory=Counter)
    overdue: int = 0

    def add(self, view: MilestoneView) -> None:
        self.pace[view.pace] += 1
        self.overdue += view.state == MilestoneState.overdue

    def __getitem__(self, colour: str) -> int:
        return self.overdue if colour == "overdue" else self.pace[Pace(colour)]


@dataclass(frozen=True)
class OverviewRow:
    department: DepartmentRef | None  # None: the plan's total
    now: Tally
    last_week: Tally

    def change(self, colour: str) -> int:
        return self.now[colour] - self.last_week[colour]


@dataclass(frozen=True)
class PlanOverview:
    plan: Plan
    total: OverviewRow
    departments: list[OverviewRow]


def overview(*, session: Session, reader: Contact, today: dt.date) -> list[PlanOverview]:
    """Per plan and lead department: milestones by colour and overdue, now and a week ago."""
    plans = visible_plans(session=session, reader=reader)
    plan_ids = [p.id or 0 for p in plans]
    departments = departments_by_milestone(session=session, plan_ids=plan_ids)
    now = milestone_views(session=session, today=today, plan_ids=plan_ids)
    then = milestone_views(session=session, today=today - WEEK, plan_ids=plan_ids)
    tallies: dict[tuple[str, DepartmentRef | None], tuple[Tally, Tally]] = {}
    for which, views in ((0, now), (1, then)):
        for view in views:
            leads: tuple[DepartmentRef | None, ...] = departments.get(view.milestone_id, Departments()).lead
            for department in (None, *leads):
                pair = tallies.setdefault((view.plan_key, department), (Tally(), Tally()))
                pair[which].add(view)
    result = []
    for plan in plans:
        rows = [
            OverviewRow(department, *pair)
            for (key, department), pair in tallies.items()
            if key == plan.key and department is not None
        ]
        total = tallies.get((plan.key, None), (Tally(), Tally()))
        result.append(
            PlanOverview(
                plan,
                OverviewRow(None, *total),
                sorted(
                    rows,
                    key=lambda r: (
                        -r.now.overdue,
                        -r.now.pace[Pace.red],
                        r.department.name if r.department else "",
                    ),
                ),
            )
        )
    return result


# --- the 台账 on screen ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatestReport:
    status: ReportStatus
    percent: int | None
    note: str
    reported_at: dt.datetime
    has_evidence: bool


@dataclass(frozen=True)
class LedgerRow:
    view: MilestoneView
    departments: Departments
    latest: LatestReport | None
    evidence: bool  # some report of this milestone carries a photo or document

    @property
    def recurring(self) -> bool:
        return self.view.recurrence != Recurrence.none


PAGE_SIZE = 100  # rows per 台账 page: a big county's plan has thousands, too many for a phone


@dataclass(frozen=True)
class LedgerFilter:
    department_id: int | None = None
    year: int | None = None
    state: MilestoneState | None = None
    page: int = 1


@dataclass(frozen=True)
class UndatedTask:
    """A task the plan gives no date: it stays in the 台账 without a milestone, as in the workbook's rows."""

    ref: str
    title: str
    departments: Departments


@dataclass(frozen=True)
class Ledger:
    plan: Plan
    rows: list[LedgerRow]  # this page's
    chosen: LedgerFilter
    departments: list[DepartmentRef]  # the filter's choices: every department the plan names
    years: list[int]
    total: int  # rows matching the filter, on every page
    pages: int
    # the plan's tasks without any milestone, of the chosen department, on the first page; a year or state
    # chosen leaves them out (they have neither)
    undated: list[UndatedTask] = field(default_factory=list)


def undated_tasks(*, session: Session, plan_id: int) -> list[UndatedTask]:
    """The plan's tasks with no milestone at all (a withdrawn one is a milestone: its task is not undated), in the
    plan's order, with their departments as the plan prints them."""
    tasks = session.exec(
        select(Task)
        .where(Task.plan_id == plan_id, ~exists().where(col(Milestone.task_id) == Task.id))
        .options(selectinload(Task.department_links).selectinload(TaskDepartment.department))  # type: ignore[arg-type]
        .order_by(col(Task.position))
    ).all()
    return [
        UndatedTask(
            task.ref,
            task.title,
            Departments(
                tuple(DepartmentRef(d.id or 0, d.name) for d in task.departments(DepartmentRole.lead)),
                tuple(DepartmentRef(d.id or 0, d.name) for d in task.departments(DepartmentRole.co)),
            ),
        )
        for task in tasks
    ]


def _latest_reports(session: Session, milestone_ids: list[int]) -> tuple[dict[int, LatestReport], set[int]]:
    latest: dict[int, LatestReport] = {}
    with_evidence: set[int] = set()
    for chunk in in_parts(milestone_ids):
        for report in session.exec(
            select(ProgressReport)
            .where(col(ProgressReport.milestone_id).in_(chunk))
            .order_by(col(ProgressReport.reported_at), col(ProgressReport.id))
        ).all():
            latest[report.milestone_id] = LatestReport(
                report.status,
                report.percent,
                report.note,
                report.reported_at,
                report.evidence_file_id is not None,
            )
            if report.evidence_file_id is not None:
                with_evidence.add(report.milestone_id)
    return latest, with_evidence


def ledger_rows(
    *, session: Session, views: list[MilestoneView], departments: dict[int, Departments]
) -> list[LedgerRow]:
    latest, with_evidence = _latest_reports(session, [v.milestone_id for v in views])
    return [
        LedgerRow(
            view,
            departments.get(view.milestone_id, Departments()),
            latest.get(view.milestone_id),
            view.milestone_id in with_evidence,
        )
        for view in views
    ]


def plan_ledger(
    *, session: Session, reader: Contact, plan_id: int, today: dt.date, chosen: LedgerFilter
) -> Ledger:
    plan = visible_plan(session=session, reader=reader, plan_id=plan_id)
    if chosen.department_id is not None:
        department_by_id(session=session, reader=reader, department_id=chosen.department_id)
    departments = departments_by_milestone(session=session, plan_ids=[plan_id])
    views = milestone_views(
        session=session,
        today=today,
        plan_ids=[plan_id],
        department_ids=[chosen.department_id] if chosen.department_id is not None else None,
    )
    undated = undated_tasks(session=session, plan_id=plan_id)
    named = [*departments.values(), *(t.departments for t in undated)]
    choices = sorted({d for ds in named for d in (*ds.lead, *ds.co)}, key=lambda d: d.name)
    years = sorted({v.due_on.year for v in views})
    views = [
        v
        for v in views
        if (chosen.year is None or v.due_on.year == chosen.year)
        and (chosen.state is None or v.state == chosen.state)
    ]
    pages = max(1, -(-len(views) // PAGE_SIZE))
    if not 1 <= chosen.page <= pages:
        raise NotFound(str(chosen.page))
    shown = views[(chosen.page - 1) * PAGE_SIZE : chosen.page * PAGE_SIZE]
    rows = ledger_rows(session=session, views=shown, departments=departments)
    if chosen.year is not None or chosen.state is not None or chosen.page != 1:
        undated = []
    elif chosen.department_id is not None:
        undated = [
            t
            for t in undated
            if chosen.department_id in {d.id for d in (*t.departments.lead, *t.departments.co)}
        ]
    return Ledger(plan, rows, chosen, choices, years, total=len(views), pages=pages, undated=undated)


# --- one department -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentPage:
    department: Department
    rows: list[LedgerRow]
    tally: Tally


def department_page(
    *, session: Session, reader: Contact, department_id: int, today: dt.date
) -> DepartmentPage:
    require_reader(reader)
    department = department_by_id(session=session, reader=reader, department_id=department_id)
    plan_ids = visible_plan_ids(session=session, contact=reader)
    views = milestone_views(session=session, today=today, plan_ids=plan_ids, department_ids=[department_id])
    tally = Tally()
    for view in views:
        tally.add(view)
    rows = ledger_rows(
        session=session, views=views, departments=departments_by_milestone(session=session, plan_ids=plan_ids)
    )
    return DepartmentPage(department, rows, tally)


# --- overdue: where each milestone stands on the ladder, as the outbox shows it ---------------------------


@dataclass(frozen=True)
class OverdueEntry:
    line: OverdueLine
    # rungs whose notice to the department's contacts went out (a rung is an EscalationStep, written with the
    # message that tells it), and those whose notice is queued and not sent yet (quiet hours, a holiday, a retry)
    sent: int
    waiting: int
    rung: str  # what the policy calls for by now: "notice", "cuiban" (the leadership too) or "tongbao"
    owed: int  # notices the policy owes by now: the first the day after the due date, then one a week
    # from 催办 on: "told" (a message to a leader went out), "waiting" (queued), "unreachable" (the department
    # has no leadership a message can reach), "not_told"; "" before 催办
    leadership: str
    tongbao: str  # "sent" or "waiting": on a 通报 of the last week; "" where no 通报 row names it
    paused_until: dt.date | None  # /snooze: the ladder stops (no notices, not on the 通报) until then
    pause_reason: str

    @property
    def behind(self) -> bool:
        """Fewer notices were queued for the department than the policy owes (nobody reachable in it, or the
        bot was not running), so the page says so rather than claim the department was told."""
        return self.paused_until is None and self.sent + self.waiting < self.owed


LADDER = EscalationPolicy()


def ladder_rung(days_overdue: int, policy: EscalationPolicy = LADDER) -> tuple[int, str]:
    """How many overdue notices the policy owes by now, and the highest rung reached (scheduler/escalation.py)."""
    notices = days_overdue // policy.repeat_every_days + 1 if days_overdue > 0 else 0
    if days_overdue >= policy.tongbao_after_days:
        return notices, "tongbao"
    if days_overdue >= policy.department_lead_after_days:
        return notices, "cuiban"
    return notices, "notice"


def overdue_entries(*, session: Session, reader: Contact, today: dt.date) -> list[OverdueEntry]:
    """The overdue list with each milestone's ladder as the outbox shows it: the notices recorded for its current
    due date, sent or still waiting, whether a leader's went out, whether a 通报 named it, and a /snooze."""
    lines = overdue(session=session, reader=reader, today=today)
    ids = sorted({line.view.milestone_id for line in lines})
    department: dict[tuple[int, dt.date], dict[int, str]] = {}  # step -> "sent" or "waiting"
    leaders: dict[tuple[int, dt.date], set[str]] = {}
    paused: dict[int, tuple[dt.date | None, str]] = {}
    for chunk in in_parts(ids):
        for milestone_id, due, step, role, sent_at, last_error, attempts in session.execute(
            sa_select(
                col(EscalationStep.milestone_id),
                col(EscalationStep.instance_due_on),
                col(EscalationStep.step),
                col(Contact.role),
                col(Notification.sent_at),
                col(Notification.last_error),
                col(Notification.attempts),
            )
            .join(Contact, col(Contact.id) == EscalationStep.contact_id)
            .join(Notification, col(Notification.id) == EscalationStep.notification_id)
            .where(col(EscalationStep.milestone_id).in_(chunk), col(Contact.role) != ContactRole.coordinator)
        ).all():
            state = sent_or_waiting(sent_at, last_error, attempts)
            if state is None:
                continue
            if role == ContactRole.lead:
                leaders.setdefault((milestone_id, due), set()).add(state)
            elif department.setdefault((milestone_id, due), {}).get(step) != "sent":
                department[(milestone_id, due)][step] = state
        for pause_id, until, reason in session.exec(
            select(
                col(Milestone.id),
                col(Milestone.escalation_paused_until),
                col(Milestone.escalation_pause_reason),
            ).where(col(Milestone.id).in_(chunk), col(Milestone.escalation_paused_until) >= today)
        ).all():
            paused[pause_id or 0] = (until, reason or "")
    hearers = who_must_hear(session=session, milestone_ids=ids)
    on_tongbao = _on_tongbao(session, reader, today)
    entries = []
    for line in lines:
        milestone_id, due = line.view.milestone_id, line.view.due_on
        owed, rung = ladder_rung(line.days_overdue)
        until, reason = paused.get(milestone_id, (None, ""))
        steps = list(department.get((milestone_id, due), {}).values())
        told = leaders.get((milestone_id, due), set())
        if rung == "notice":
            leadership = ""
        elif "sent" in told or "waiting" in told:
            leadership = "told" if "sent" in told else "waiting"
        elif any(why == Because.lead for _id, why in hearers.get(milestone_id, [])):
            leadership = "not_told"
        else:
            leadership = "unreachable"
        entries.append(
            OverdueEntry(
                line=line,
                sent=steps.count("sent"),
                waiting=steps.count("waiting"),
                rung=rung,
                owed=owed,
                leadership=leadership,
                tongbao=on_tongbao.get(milestone_id, ""),
                paused_until=until,
                pause_reason=reason,
            )
        )
    return entries


def _on_tongbao(session: Session, reader: Contact, today: dt.date) -> dict[int, str]:
    """milestone id -> "sent" or "waiting": named in a 通报 queued for a coordinator of the reader's county in the
    last week (the 通报 is weekly), sent where any of those went out."""
    since = dt.datetime.combine(today - WEEK, dt.time(), tzinfo=dt.UTC)
    plans = set(visible_plan_ids(session=session, contact=reader))
    coordinators = select(Contact.id).join(Department, col(Department.id) == Contact.department_id)
    coordinators = coordinators.where(
        col(Department.region) == region_of(session=session, contact=reader),
        col(Contact.role) == ContactRole.coordinator,
    )
    found: dict[int, str] = {}
    for payload, sent_at, last_error, attempts in session.exec(
        select(Notification.payload, Notification.sent_at, Notification.last_error, Notification.attempts)
        .where(col(Notification.contact_id).in_(coordinators), col(Notification.kind) == "tongbao")
        .where(col(Notification.created_at) >= since)
    ).all():
        state = sent_or_waiting(sent_at, last_error, attempts)
        if state is None or payload.get("plan_id") not in plans:
            continue
        for ids in payload.get("departments", {}).values():
            for milestone_id in ids:
                if found.get(milestone_id) != "sent":
                    found[milestone_id] = state
    return found


# --- 销号 requests waiting for a coordinator --------------------------------------------------------------


@dataclass(frozen=True)
class PendingCloseout:
    closeout: CloseoutRequest
    plan_title: str
    task: Task
    department: str
    report: ProgressReport | None


def pending(*, session: Session, coordinator: Contact) -> list[PendingCloseout]:
    require_coordinator(coordinator)
    result = []
    for closeout in pending_closeouts(session=session, coordinator=coordinator):
        milestone = session.get(Milestone, closeout.milestone_id)
        assert milestone is not None
        task = session.get(Task, milestone.task_id)
        requester = session.get(Contact, closeout.requested_by)
        assert task is not None and requester is not None
        department = session.get(Department, requester.department_id)
        result.append(
            PendingCloseout(
                closeout,
                task.plan.title,
                task,
                department.name if department else "",
                session.get(ProgressReport, closeout.report_id),
            )
        )
    return result


# --- one milestone, with every report ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportEntry:
    report: ProgressReport
    department: str
    contact_name: str


@dataclass(frozen=True)
class MilestoneDetail:
    plan: Plan
    task: Task
    milestone: Milestone
    view: MilestoneView | None  # None: withdrawn (已撤销), no longer the plan's, so in no state
    departments: Departments
    reports: list[ReportEntry]
    pending_closeout: CloseoutRequest | None


def milestone_detail(
    *, session: Session, reader: Contact, milestone_id: int, today: dt.date
) -> MilestoneDetail:
    require_reader(reader)
    milestone, task = visible_milestone(session=session, reader=reader, milestone_id=milestone_id)
    view = next(
        (
            v
            for v in milestone_views(session=session, today=today, plan_ids=[task.plan_id])
            if v.milestone_id == milestone_id
        ),
        None,
    )
    rows = session.exec(
        select(ProgressReport, Contact, Department)
        .join(Contact, col(Contact.id) == ProgressReport.contact_id)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(ProgressReport.milestone_id == milestone_id)
        .order_by(*newest_first())
    ).all()
    pending_closeout = session.exec(
        select(CloseoutRequest).where(
            CloseoutRequest.milestone_id == milestone_id, CloseoutRequest.status == "pending"
        )
    ).first()
    return MilestoneDetail(
        task.plan,
        task,
        milestone,
        view,
        departments_by_milestone(session=session, plan_ids=[task.plan_id]).get(milestone_id, Departments()),
        [ReportEntry(report, department.name, contact.name) for report, contact, department in rows],
        pending_closeout,
    )


def evidence_file_id(*, session: Session, reader: Contact, report_id: int) -> str:
    """The file id of a report's evidence, if the report is on a plan the reader sees."""
    require_reader(reader)
    report = session.get(ProgressReport, report_id)
    milestone = session.get(Milestone, report.milestone_id) if report else None
    task = session.get(Task, milestone.task_id) if milestone else None
    if (
        report is None
        or report.evidence_file_id is None
        or task is None
        or task.plan_id not in visible_plan_ids(session=session, contact=reader)
    ):
        raise NotFound(str(report_id))
    return report.evidence_file_id


@dataclass(frozen=True)
class ChartKey:
    """What the overview's chart is drawn from: the plans the reader sees, the day, the data's version (the
    newest report, and the counter every other write that moves a pace moves: a closed or reopened milestone, a
    moved date, an edited or withdrawn report, an import), and the caption's language. Two readers of one county
    share a drawing; any report or milestone change anywhere draws afresh."""

    plan_ids: tuple[int, ...]
    today: dt.date
    newest_report_id: int
    # None: a database without the counter's row (before migration 0010); such a drawing is never kept
    inputs_version: int | None
    language: str


def chart_key(*, session: Session, reader: Contact, today: dt.date) -> ChartKey:
    from models.planning import inputs_version

    require_reader(reader)
    newest = session.exec(select(func.max(ProgressReport.id))).one()
    return ChartKey(
        plan_ids=tuple(sorted(visible_plan_ids(session=session, contact=reader))),
        today=today,
        newest_report_id=newest or 0,
        inputs_version=inputs_version(session),
        language=reader.language,
    )
