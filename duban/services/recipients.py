"""Who must hear about a milestone: one query for any number of milestones, used wherever that is asked.

The lead department's contacts, the lead department's own leadership (分管领导, told from 催办 on), and the
coordinators of the plan's county; of each, those limited to no plan or to the milestone's; only contacts a message
can reach.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from duban.chunks import in_parts
from models import Contact, ContactRole, Department, DepartmentRole, Milestone, Plan, Task, TaskDepartment
from models.people import covers_plan, reachable


class Because(StrEnum):
    contact = "contact"  # the lead department's contact
    lead = "lead"  # the lead department's leadership
    coordinator = "coordinator"  # a coordinator of the plan's county


def who_must_hear(
    *, session: Session, milestone_ids: Collection[int]
) -> dict[int, list[tuple[int, Because]]]:
    """milestone id -> the contact ids of the people who must hear about it, and why (in contact id order).

    Ids, not Contact objects: the overdue ladder asks this for every milestone that reached a rung lately (tens of
    thousands at a million milestones) and needs the people only where a rung is still to be told. Two plain joins
    rather than one join on an OR of correlated EXISTS: the OR kept every index out, so each milestone was tested
    against every contact (the ladder's cost grew with milestones x contacts).
    """
    found: dict[int, dict[int, Because]] = {}
    ids = sorted(set(milestone_ids))
    for chunk in in_parts(ids):
        lead_department = (
            select(Milestone.id, Contact.id, Contact.role)
            .join(
                TaskDepartment,
                and_(
                    col(TaskDepartment.task_id) == col(Milestone.task_id),
                    col(TaskDepartment.role) == DepartmentRole.lead,
                ),
            )
            .join(Contact, col(Contact.department_id) == col(TaskDepartment.department_id))
            .join(Task, col(Task.id) == col(Milestone.task_id))
            .where(
                col(Milestone.id).in_(chunk), col(Contact.role).in_([ContactRole.contact, ContactRole.lead])
            )
            .where(covers_plan(col(Task.plan_id)), reachable())
        )
        county_coordinators = (
            select(Milestone.id, Contact.id, Contact.role)
            .join(Task, col(Task.id) == col(Milestone.task_id))
            .join(Plan, col(Plan.id) == col(Task.plan_id))
            .join(Department, col(Department.region) == col(Plan.region))
            .join(Contact, col(Contact.department_id) == col(Department.id))
            .where(col(Milestone.id).in_(chunk), col(Contact.role) == ContactRole.coordinator)
            .where(or_(col(Contact.plan_id).is_(None), col(Contact.plan_id) == col(Plan.id)), reachable())
        )
        for statement in (lead_department, county_coordinators):
            for milestone_id, contact_id, role in session.exec(statement).all():
                found.setdefault(milestone_id or 0, {})[contact_id or 0] = Because(role)
    return {milestone_id: sorted(people.items()) for milestone_id, people in sorted(found.items())}


def lead_department_names(*, session: Session, milestone_ids: Collection[int]) -> dict[int, list[str]]:
    """milestone id -> the names of its task's lead departments (牵头单位), in department id order."""
    names: dict[int, list[str]] = {}
    ids = sorted(set(milestone_ids))
    for chunk in in_parts(ids):
        for milestone_id, name in session.exec(
            select(Milestone.id, Department.name)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .join(Department, col(Department.id) == TaskDepartment.department_id)
            .where(col(Milestone.id).in_(chunk), TaskDepartment.role == DepartmentRole.lead)
            .order_by(col(Milestone.id), col(Department.id))
        ).all():
            names.setdefault(milestone_id or 0, []).append(name)
    return names
