"""Who must hear about a milestone: one query for any number of milestones, used wherever that is asked.

The lead department's contacts, the lead department's own leadership (分管领导, told from 催办 on), and the
coordinators of the plan's county (all of its plans, or the plan they were invited for); only contacts a message can
reach.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from models import Contact, ContactRole, Department, DepartmentRole, Milestone, Plan, Task, TaskDepartment
from models.people import reachable

CHUNK = 500  # ids per IN list, well inside every database's limit on bound parameters


class Because(StrEnum):
    contact = "contact"  # the lead department's contact
    lead = "lead"  # the lead department's leadership
    coordinator = "coordinator"  # a coordinator of the plan's county


def who_must_hear(
    *, session: Session, milestone_ids: Collection[int]
) -> dict[int, list[tuple[Contact, Because]]]:
    """milestone id -> the people who must hear about it, and why."""
    in_lead_department = exists().where(
        col(TaskDepartment.task_id) == col(Milestone.task_id),
        col(TaskDepartment.department_id) == col(Contact.department_id),
        col(TaskDepartment.role) == DepartmentRole.lead,
    )
    county_coordinator = and_(
        col(Contact.role) == ContactRole.coordinator,
        exists().where(
            col(Department.id) == col(Contact.department_id), col(Department.region) == col(Plan.region)
        ),
        or_(col(Contact.plan_id).is_(None), col(Contact.plan_id) == col(Plan.id)),
    )
    lead_department = and_(col(Contact.role).in_([ContactRole.contact, ContactRole.lead]), in_lead_department)
    found: dict[int, list[tuple[Contact, Because]]] = {}
    ids = sorted(set(milestone_ids))
    for first in range(0, len(ids), CHUNK):
        rows = session.exec(
            select(Milestone.id, Contact)
            .join(Task, col(Task.id) == col(Milestone.task_id))
            .join(Plan, col(Plan.id) == col(Task.plan_id))
            .join(Contact, or_(lead_department, county_coordinator))
            .where(col(Milestone.id).in_(ids[first : first + CHUNK]), reachable())
            .order_by(col(Milestone.id), col(Contact.id))
        ).all()
        for milestone_id, contact in rows:
            found.setdefault(milestone_id or 0, []).append((contact, Because(contact.role)))
    return found
