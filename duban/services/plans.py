"""The plans as things an operator manages: what each holds (`duban plans list`), and taking one out
(`duban plans remove`).

Removing a plan deletes its tasks, milestones and everything that hangs on them (reports, 销号 requests, the
ladder's steps), so it is refused while anyone has reported on it or is limited to it, unless forced. What stays
is the record: the audit rows and the messages already sent keep their text and lose only their pointer to a
milestone that no longer exists, and one audit row says what was removed, when and by what.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import String, cast, delete, func, update
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from duban.services import audit
from duban.services.errors import DomainError, NotFound
from models import (
    AuditEntry,
    CloseoutRequest,
    Contact,
    EscalationStep,
    GroupRobot,
    Invite,
    ListedMilestone,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskDepartment,
)


@dataclass(frozen=True)
class PlanFigures:
    """One plan as `duban plans list` shows it."""

    key: str
    region: str
    title: str
    doc_number: str | None
    tasks: int = 0
    milestones: int = 0  # the plan's own: open or closed out
    withdrawn: int = 0  # 已撤销: no longer the plan's, kept for their reports
    reports: int = 0
    people: int = 0  # contacts, coordinators and leads limited to this plan
    robots: int = 0  # group robots of this plan


class PlanInUse(DomainError):
    """The plan has reports, people limited to it or group robots; removing it needs force."""

    def __init__(self, figures: PlanFigures) -> None:
        super().__init__(figures.key)
        self.figures = figures


def list_plans(*, session: Session) -> list[PlanFigures]:
    """Every plan with its counts, in key order (sorted here: backends' collations order Chinese keys apart)."""
    plans = sorted(session.exec(select(Plan)).all(), key=lambda plan: plan.key)
    return [figures_of(session=session, plan=plan) for plan in plans]


def figures_of(*, session: Session, plan: Plan) -> PlanFigures:
    tasks = select(Task.id).where(Task.plan_id == plan.id)
    statuses = Counter(
        {
            status: n
            for status, n in session.exec(
                select(Milestone.status, func.count())
                .where(col(Milestone.task_id).in_(tasks))
                .group_by(col(Milestone.status))
            ).all()
        }
    )
    reports = session.exec(
        select(func.count())
        .select_from(ProgressReport)
        .join(Milestone, col(Milestone.id) == ProgressReport.milestone_id)
        .where(col(Milestone.task_id).in_(tasks))
    ).one()
    return PlanFigures(
        key=plan.key,
        region=plan.region,
        title=plan.title,
        doc_number=plan.doc_number,
        tasks=session.exec(select(func.count()).select_from(Task).where(Task.plan_id == plan.id)).one(),
        milestones=statuses[MilestoneStatus.open] + statuses[MilestoneStatus.done],
        withdrawn=statuses[MilestoneStatus.withdrawn],
        reports=reports,
        people=session.exec(
            select(func.count()).select_from(Contact).where(Contact.plan_id == plan.id)
        ).one(),
        robots=session.exec(
            select(func.count()).select_from(GroupRobot).where(GroupRobot.plan_id == plan.id)
        ).one(),
    )


def remove_plan(*, session: Session, key: str, force: bool, now: dt.datetime, by: str) -> PlanFigures:
    """Delete the plan and all it holds, in one transaction; returns what it held.

    Raises NotFound for a key no plan has, and PlanInUse (nothing removed) while the plan has reports, people
    limited to it or group robots, unless `force`. Forced, those people lose their access (as `duban contacts
    deactivate` would end it, with their unused invitations), and the plan's robots are removed.
    """
    plan = session.exec(select(Plan).where(Plan.key == key)).first()
    if plan is None:
        raise NotFound(key)
    figures = figures_of(session=session, plan=plan)
    if not force and (figures.reports or figures.people or figures.robots):
        raise PlanInUse(figures)
    task_ids = list(session.exec(select(Task.id).where(Task.plan_id == plan.id)).all())
    milestone_ids = [
        m
        for part in in_parts(task_ids)
        for m in session.exec(select(Milestone.id).where(col(Milestone.task_id).in_(part))).all()
    ]
    audit.record(
        session,
        now=now,
        contact_id=None,
        action="remove_plan",
        detail=(
            f"plan={plan.key} title={plan.title} doc={plan.doc_number or ''} tasks={figures.tasks} "
            f"milestones={figures.milestones} withdrawn={figures.withdrawn} reports={figures.reports} "
            f"people={figures.people} robots={figures.robots} by={by}"
        ),
    )
    for part in in_parts(milestone_ids):
        in_part = col(Milestone.id).in_(part)
        # the audit trail and the messages sent keep their rows; only the pointer to what is gone goes, and an
        # audit row says in its text which milestone it was about
        session.execute(
            update(AuditEntry)
            .where(col(AuditEntry.milestone_id).in_(part))
            .values(
                detail=col(AuditEntry.detail)
                + f" (plan {plan.key} removed: milestone "
                + cast(col(AuditEntry.milestone_id), String)
                + ")",
                milestone_id=None,
            )
        )
        # a message not sent yet is then about nothing, and its renderer says so (the dispatcher drops it)
        session.execute(
            update(Notification).where(col(Notification.milestone_id).in_(part)).values(milestone_id=None)
        )
        # a task number a contact was shown stays taken, meaning nothing, so it is never given to another
        session.execute(
            update(ListedMilestone)
            .where(col(ListedMilestone.milestone_id).in_(part))
            .values(milestone_id=None)
        )
        session.execute(delete(EscalationStep).where(col(EscalationStep.milestone_id).in_(part)))
        session.execute(delete(CloseoutRequest).where(col(CloseoutRequest.milestone_id).in_(part)))
        session.execute(delete(ProgressReport).where(col(ProgressReport.milestone_id).in_(part)))
        session.execute(delete(Milestone).where(in_part))
    for part in in_parts(task_ids):
        session.execute(delete(TaskDepartment).where(col(TaskDepartment.task_id).in_(part)))
        session.execute(delete(Task).where(col(Task.id).in_(part)))
    limited = list(session.exec(select(Contact.id).where(Contact.plan_id == plan.id)).all())
    if limited:
        # their access was this plan; unlimited, they would see the whole county, so they are stopped instead
        session.execute(
            update(Contact).where(col(Contact.id).in_(limited)).values(active=False, plan_id=None)
        )
        session.execute(
            update(Invite)
            .where(
                col(Invite.contact_id).in_(limited),
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > now,
            )
            .values(expires_at=now)
        )
    session.execute(delete(GroupRobot).where(col(GroupRobot.plan_id) == plan.id))
    session.execute(delete(Plan).where(col(Plan.id) == plan.id))
    session.commit()
    return figures
