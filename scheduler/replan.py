"""Which milestones a tick must plan again after a change, read from the change log (models/planning.py).

Planning owes something new within a day only where a row it reads changed: a contact who joins owes them the
reminders and ladder notices of their department's (or, for a coordinator, their county's) milestones; a milestone
reopened or a report withdrawn owes that milestone's; a task whose departments changed owes its milestones'. So
the tick after a change plans those milestones alone, and a change to a plan or a department, or one touching more
than a re-plan of everything would cost, plans everything again.
"""

from __future__ import annotations

from sqlalchemy import CompoundSelect, delete, or_, union
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from models import Contact, ContactRole, Department, Milestone, Plan, Task, TaskDepartment
from models.people import covers_plan
from models.planning import PlanningChange, Touched

MAX_SCOPED = 20_000  # milestones; past this, one plan of everything reads less than the IN lists would


def touched_milestones(*, session: Session, since: int, upto: int) -> list[int] | None:
    """The ids of the milestones the changes in (since, upto] touched, in order; None: plan everything.

    Changes already forgotten (another instance planned them, then cleared them) were planned by that instance.
    """
    changes = session.exec(
        select(PlanningChange.kind, PlanningChange.row_id).where(
            col(PlanningChange.version) > since, col(PlanningChange.version) <= upto
        )
    ).all()
    of_kind: dict[str, set[int]] = {}
    for kind, row_id in changes:
        of_kind.setdefault(kind, set()).add(row_id)
    if Touched.all in of_kind:
        return None
    found = set(of_kind.get(Touched.milestone, set()))
    parts = [
        *(
            select(Milestone.id).where(col(Milestone.task_id).in_(task_ids))
            for task_ids in in_parts(sorted(of_kind.get(Touched.task, set())))
        ),
        *(
            _milestones_heard_by(contact_ids)
            for contact_ids in in_parts(sorted(of_kind.get(Touched.contact, set())))
        ),
    ]
    for statement in parts:
        found.update(m for m in session.execute(statement).scalars() if m is not None)
        if len(found) > MAX_SCOPED:  # stop reading: one plan of everything is cheaper
            return None
    return None if len(found) > MAX_SCOPED else sorted(found)


def _milestones_heard_by(contact_ids: list[int]) -> CompoundSelect:
    """The milestones these contacts can be owed something about: their department's tasks' (as lead or co-
    department, for a contact or a department's leadership), their county's plans' (for a coordinator); of their
    one plan only, for someone limited to one."""
    departments = (
        select(Milestone.id)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .join(Contact, col(Contact.department_id) == TaskDepartment.department_id)
        .join(Task, col(Task.id) == Milestone.task_id)
        .where(
            col(Contact.id).in_(contact_ids), col(Contact.role).in_([ContactRole.contact, ContactRole.lead])
        )
        .where(covers_plan(col(Task.plan_id)))
    )
    county = (
        select(Milestone.id)
        .join(Task, col(Task.id) == Milestone.task_id)
        .join(Plan, col(Plan.id) == Task.plan_id)
        .join(Department, col(Department.region) == Plan.region)
        .join(Contact, col(Contact.department_id) == Department.id)
        .where(col(Contact.id).in_(contact_ids), col(Contact.role) == ContactRole.coordinator)
        .where(or_(col(Contact.plan_id).is_(None), col(Contact.plan_id) == Plan.id))
    )
    return union(departments, county)


def forget_changes(*, session: Session, upto: int) -> None:
    """Drop the log up to a version just planned: whatever it touched is in the outbox now."""
    session.execute(delete(PlanningChange).where(col(PlanningChange.version) <= upto))
    session.commit()
