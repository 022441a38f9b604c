"""Who may see what. Every read and write in the bot goes through these checks, in one place."""

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from duban.chunks import in_parts
from duban.services.errors import NotAllowed, NotFound
from models import Contact, ContactRole, Department, DepartmentRole, Milestone, Plan, Task, TaskDepartment
from models.people import reachable


def visible_plan_ids(*, session: Session, contact: Contact) -> list[int]:
    """A coordinator or lead sees the plan they were invited for, or every plan of their county."""
    if contact.plan_id is not None:
        return [contact.plan_id]
    region = region_of(session=session, contact=contact)
    return [p for p in session.exec(select(Plan.id).where(Plan.region == region)).all() if p]


def visible_task_ids(*, session: Session, contact: Contact) -> list[int]:
    """A department's contact sees their department's tasks (of their one plan, if they were invited for one);
    a coordinator or lead every task of the plans they see."""
    statement: SelectOfScalar[int] | SelectOfScalar[int | None]
    if contact.role == ContactRole.contact:
        statement = select(TaskDepartment.task_id).where(
            TaskDepartment.department_id == contact.department_id
        )
        if contact.plan_id is not None:
            statement = statement.join(Task, col(Task.id) == TaskDepartment.task_id).where(
                Task.plan_id == contact.plan_id
            )
    else:
        statement = select(col(Task.id)).where(
            col(Task.plan_id).in_(visible_plan_ids(session=session, contact=contact))
        )
    return [t for t in session.exec(statement).all() if t is not None]


def visible_milestone(*, session: Session, reader: Contact, milestone_id: int) -> tuple[Milestone, Task]:
    """A milestone of a plan the reader sees, with its task; another county's answers NotFound like a missing id."""
    milestone = session.get(Milestone, milestone_id)
    task = session.get(Task, milestone.task_id) if milestone else None
    if (
        milestone is None
        or task is None
        or task.plan_id not in visible_plan_ids(session=session, contact=reader)
    ):
        raise NotFound(str(milestone_id))
    return milestone, task


def department_role(*, session: Session, contact: Contact, task_id: int) -> DepartmentRole | None:
    """The contact's department's part in the task (lead or co), or None: not their department's task, or a task
    of another plan than the one they were invited for."""
    link = session.get(TaskDepartment, (task_id, contact.department_id))
    if link is None:
        return None
    if contact.plan_id is not None:
        task = session.get(Task, task_id)
        if task is None or task.plan_id != contact.plan_id:
            return None
    return DepartmentRole(link.role)


def milestone_for_report(
    *, session: Session, contact: Contact, milestone_id: int
) -> tuple[Milestone, DepartmentRole]:
    """A contact reports only where their department is lead or co, within their plan if they have one."""
    require_role(contact, ContactRole.contact)
    milestone = session.get(Milestone, milestone_id)
    if milestone is None:
        raise NotFound(str(milestone_id))
    role = department_role(session=session, contact=contact, task_id=milestone.task_id)
    if role is None:
        raise NotAllowed(str(milestone_id))
    return milestone, role


def require_role(contact: Contact, *roles: ContactRole) -> None:
    """Every service action checks who is asking, whatever the caller checked before: a deactivated contact
    and a role the action is not for are refused here, not only by the bot's decorator."""
    if not contact.active:
        raise NotAllowed("inactive")
    if contact.role not in roles:
        raise NotAllowed(contact.role)


def require_coordinator(contact: Contact) -> None:
    require_role(contact, ContactRole.coordinator)


def require_reader(contact: Contact) -> None:
    """Status and digests are for coordinators and leads."""
    require_role(contact, ContactRole.coordinator, ContactRole.lead)


def region_of(*, session: Session, contact: Contact) -> str:
    """The county a contact belongs to: their department's."""
    department = session.get(Department, contact.department_id)
    assert department is not None  # a foreign key
    return department.region


def coordinators_by_plan(*, session: Session, plan_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """plan id -> (contact id, department id) of the coordinators who may hear about it (coordinators_for_plan
    for many plans, a few hundred per query), in contact id order; a plan without one is absent. Plain ids: a
    weekly job over every plan of a province keeps these, not Contacts each of its commits would expire."""
    found: dict[int, list[tuple[int, int]]] = {}
    for part in in_parts(plan_ids):
        statement = (
            select(Plan.id, Contact.id, Contact.department_id)
            .join(Department, col(Department.region) == Plan.region)
            .join(Contact, col(Contact.department_id) == Department.id)
            .where(col(Plan.id).in_(part), Contact.role == ContactRole.coordinator, reachable())
            .where((col(Contact.plan_id).is_(None)) | (col(Contact.plan_id) == Plan.id))
            .order_by(col(Plan.id), col(Contact.id))
        )
        for plan_id, contact_id, department_id in session.exec(statement).all():
            found.setdefault(plan_id or 0, []).append((contact_id or 0, department_id))
    return found


def coordinators_for_plan(*, session: Session, plan: Plan) -> list[Contact]:
    statement = (
        select(Contact)
        .join(Department, col(Contact.department_id) == Department.id)
        .where(Contact.role == ContactRole.coordinator, reachable())
        .where(Department.region == plan.region)
        .where((col(Contact.plan_id).is_(None)) | (Contact.plan_id == plan.id))
    )
    return list(session.exec(statement).all())
