"""Who may do what, checked in the services themselves (the bot's decorator is a second fence, not the only one).

The matrix: role × action × whose data (the actor's own department, another department of the same county,
another county). Every actor works in 甲县's 教体局; a deactivated coordinator stands for anyone revoked. A second
matrix: limited to a plan or not × action × which plan (the actor's, another of the county).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, func, select

from duban.services import access, invites, oversight, progress, recipients, reminders, tasks
from duban.services.errors import (
    DomainError,
    InvalidInput,
    InviteInvalid,
    NotAllowed,
    NotFound,
    NumberNoLongerOpen,
)
from duban.services.outbox import enqueue, follow_current_contacts
from models import (
    AuditEntry,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ReportStatus,
    Task,
    TaskDepartment,
)
from models.planning import inputs_version
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from scheduler.replan import touched_milestones
from tests.zones import DEFAULT_TZ

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2025, 6, 2)
TZ = ZoneInfo("Asia/Shanghai")
OWN_COUNTY, OTHER_COUNTY = "甲县", "乙县"
SCOPES = ("own", "other_department", "other_county")
ROLES = ("contact", "coordinator", "lead", "revoked_coordinator")
_telegram_ids = itertools.count(50_000)


def _join(session: Session, department: Department, role: ContactRole) -> Contact:
    issued = invites.create_invite(
        session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7)
    )
    return invites.redeem_invite(
        session=session, token=issued.token, telegram_user_id=next(_telegram_ids), language="zh_CN", now=NOW
    )


def _lead_milestone(session: Session, department: Department) -> Milestone:
    """The first open milestone of the task this department leads."""
    milestone = session.exec(
        select(Milestone)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .where(TaskDepartment.department_id == department.id, Milestone.status == MilestoneStatus.open)
        .order_by(col(Milestone.id))
    ).first()
    assert milestone is not None
    return milestone


def _county(session: Session, region: str) -> dict[str, Department]:
    """A county with a plan, its 教体局 and 财政局 (the latter's name is in both counties, like 区财政局),
    each leading one task of many milestones, so every case of the matrix gets a fresh one."""
    plan = Plan(
        key=f"plan-{region}",
        title=f"{region}方案",
        issuer=region,
        issued_on=dt.date(2024, 1, 1),
        region=region,
    )
    session.add(plan)
    session.flush()
    departments = {}
    for position, name in enumerate(("教体局", "财政局")):
        department = Department(name=name, region=region)
        task = Task(
            plan_id=plan.id or 0,
            ref=f"（{position + 1}）",
            section="body",
            title=f"{name}的任务",
            text="…",
            position=position,
        )
        session.add_all([department, task])
        session.flush()
        session.add(
            TaskDepartment(
                task_id=task.id or 0,
                department_id=department.id or 0,
                role=DepartmentRole.lead,
                printed_as=name,
            )
        )
        session.add_all(
            Milestone(
                task_id=task.id or 0, due_on=dt.date(2025, 1, 1) + dt.timedelta(days=day), target="目标"
            )
            for day in range(20)
        )
        departments[name] = department
    session.commit()
    return departments


@dataclass
class World:
    session: Session
    actors: dict[str, Contact]
    departments: dict[str, Department]  # scope -> the department whose data is acted on
    reporters: dict[str, Contact]  # scope -> a contact of that department

    def milestone(self, scope: str) -> Milestone:
        return _lead_milestone(self.session, self.departments[scope])

    def closeout_id(self, scope: str) -> int:
        """A fresh pending 销号 request in that scope."""
        milestone = self.milestone(scope)
        milestone_id = milestone.id or 0
        pending = (
            [
                c
                for c in progress.pending_closeouts(
                    session=self.session, coordinator=self.actors["coordinator"]
                )
                if c.milestone_id == milestone_id
            ]
            if scope != "other_county"
            else []
        )
        if pending:
            return pending[0].id or 0
        outcome = progress.record_report(
            session=self.session,
            contact=self.reporters[scope],
            milestone_id=milestone_id,
            status=ReportStatus.done,
            percent=100,
            note="已完成",
            now=NOW,
            tz=DEFAULT_TZ,
        )
        assert outcome.closeout is not None
        return outcome.closeout.id or 0


@pytest.fixture
def world(session: Session) -> World:
    own_county, other_county = _county(session, OWN_COUNTY), _county(session, OTHER_COUNTY)
    own, other, far = own_county["教体局"], own_county["财政局"], other_county["财政局"]
    actors = {
        "contact": _join(session, own, ContactRole.contact),
        "coordinator": _join(session, own, ContactRole.coordinator),
        "lead": _join(session, own, ContactRole.lead),
        "revoked_coordinator": _join(session, own, ContactRole.coordinator),
    }
    invites.deactivate_contact(session=session, contact_id=actors["revoked_coordinator"].id or 0, now=NOW)
    departments = {"own": own, "other_department": other, "other_county": far}
    reporters = {
        "own": _join(session, own, ContactRole.contact),
        "other_department": _join(session, other, ContactRole.contact),
        "other_county": _join(session, far, ContactRole.contact),
    }
    return World(session, actors, departments, reporters)


def _invite(w: World, actor: Contact, scope: str) -> object:
    return invites.create_invite(
        session=w.session,
        department=w.departments[scope],
        role=ContactRole.contact,
        now=NOW,
        ttl=dt.timedelta(days=7),
        invited_by=actor,
    )


def _decide(approve: bool) -> Callable[[World, Contact, str], object]:
    def decide(w: World, actor: Contact, scope: str) -> object:
        closeout_id = w.closeout_id(scope)
        return progress.decide_closeout(
            session=w.session,
            coordinator=actor,
            closeout_id=closeout_id,
            approve=approve,
            reason="理由",
            now=NOW,
            tz=DEFAULT_TZ,
        )

    return decide


def _report(w: World, actor: Contact, scope: str) -> object:
    return progress.record_report(
        session=w.session,
        contact=actor,
        milestone_id=w.milestone(scope).id or 0,
        status=ReportStatus.on_track,
        percent=50,
        note="进展",
        now=NOW,
        tz=DEFAULT_TZ,
    )


def _pause(w: World, actor: Contact, scope: str) -> object:
    return oversight.pause_escalation(
        session=w.session,
        coordinator=actor,
        milestone_id=w.milestone(scope).id or 0,
        days=7,
        reason="等待资金",
        now=NOW,
        today=TODAY,
    )


def _department_view(w: World, actor: Contact, scope: str) -> object:
    department = oversight.department_by_id(
        session=w.session, reader=actor, department_id=w.departments[scope].id or 0
    )
    return oversight.department_milestones(session=w.session, reader=actor, name=department.name, today=TODAY)


def _status(w: World, actor: Contact, scope: str) -> object:
    department = oversight.department_by_id(
        session=w.session, reader=actor, department_id=w.departments[scope].id or 0
    )
    return oversight.status_for(session=w.session, reader=actor, today=TODAY, department=department.name)


def _task_detail(w: World, actor: Contact, scope: str) -> object:
    return tasks.task_detail(
        session=w.session, contact=actor, task_id=w.milestone(scope).task_id, today=TODAY
    )


def _deactivate(w: World, actor: Contact, scope: str) -> object:
    target = _join(w.session, w.departments[scope], ContactRole.contact)
    return invites.deactivate_contact(session=w.session, contact_id=target.id or 0, now=NOW, by=actor)


def _snooze(w: World, actor: Contact, scope: str) -> object:
    """A reminder sent to the actor ("own") or to a contact of another department or county."""
    recipient = actor if scope == "own" else w.reporters[scope]
    row = enqueue(
        session=w.session,
        key=f"matrix:{next(_telegram_ids)}",
        kind="reminder",
        contact=recipient,
        payload={"days": 30},
        due_at=NOW,
        milestone_id=w.milestone(scope).id,
        tz=TZ,
    )
    assert row is not None
    w.session.commit()
    return reminders.snooze(
        session=w.session, contact=actor, notification_id=row.id or 0, days=3, now=NOW, tz=TZ
    )


ACTIONS: dict[str, Callable[[World, Contact, str], object]] = {
    "invite": _invite,
    "approve": _decide(True),
    "reject": _decide(False),
    "report": _report,
    "pause_escalation": _pause,
    "department_view": _department_view,
    "status": _status,
    "task_detail": _task_detail,
    "deactivate": _deactivate,
    "snooze": _snooze,
}

COORDINATING = {"own", "other_department"}  # a coordinator acts for the whole county, never another
ALLOWED: dict[str, dict[str, set[str]]] = {
    "invite": {"coordinator": COORDINATING},
    "approve": {"coordinator": COORDINATING},
    "reject": {"coordinator": COORDINATING},
    "report": {"contact": {"own"}},
    "pause_escalation": {"coordinator": COORDINATING},
    "department_view": {"coordinator": COORDINATING, "lead": COORDINATING},
    "status": {"coordinator": COORDINATING, "lead": COORDINATING},
    "task_detail": {"contact": {"own"}, "coordinator": COORDINATING, "lead": COORDINATING},
    "deactivate": {"coordinator": COORDINATING},
    "snooze": {role: {"own"} for role in ("contact", "coordinator", "lead")},  # the reminder's own recipient
}


@pytest.mark.parametrize("action", ACTIONS)
def test_the_services_allow_exactly_the_matrix(world: World, action: str) -> None:
    outcome = {}
    for role, scope in itertools.product(ROLES, SCOPES):
        actor = world.actors[role]
        actor_entries = select(func.count()).select_from(AuditEntry).where(AuditEntry.contact_id == actor.id)
        before = world.session.exec(actor_entries).one()
        try:
            ACTIONS[action](world, actor, scope)
            outcome[(role, scope)] = "allowed"
        except (NotAllowed, NotFound):
            world.session.rollback()
            outcome[(role, scope)] = "refused"
            # a refusal writes nothing in the actor's name (the set-up rows are the operator's or another's)
            assert world.session.exec(actor_entries).one() == before, (role, scope)
        except InvalidInput as error:  # the set-up, not the rule, went wrong
            raise AssertionError((role, scope, error.reason)) from error
    expected = {
        (role, scope): "allowed" if scope in ALLOWED[action].get(role, set()) else "refused"
        for role, scope in itertools.product(ROLES, SCOPES)
    }
    assert outcome == expected


def test_a_requester_cannot_approve_their_own_closeout(world: World) -> None:
    """A contact promoted to coordinator mid-report must not close out what they asked for."""
    closeout_id = world.closeout_id("own")
    requester = world.session.get(Contact, world.reporters["own"].id)
    assert requester is not None
    requester.role = ContactRole.coordinator
    world.session.add(requester)
    world.session.commit()
    with pytest.raises(NotAllowed):
        progress.decide_closeout(
            session=world.session,
            coordinator=requester,
            closeout_id=closeout_id,
            approve=True,
            reason="",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    milestone = world.milestone("own")
    assert milestone.status == MilestoneStatus.open


def test_an_invite_for_a_plan_of_another_county_is_refused(world: World) -> None:
    far_plan = world.session.exec(select(Plan).where(Plan.region == OTHER_COUNTY)).first()
    with pytest.raises(NotAllowed):
        invites.create_invite(
            session=world.session,
            department=world.departments["own"],
            role=ContactRole.coordinator,
            now=NOW,
            ttl=dt.timedelta(days=7),
            plan=far_plan,
        )


def test_a_coordinator_limited_to_one_plan_invites_readers_for_that_plan_only(world: World) -> None:
    own_plans = world.session.exec(select(Plan).where(Plan.region == OWN_COUNTY)).all()
    issued = invites.create_invite(
        session=world.session,
        department=world.departments["own"],
        role=ContactRole.coordinator,
        now=NOW,
        ttl=dt.timedelta(days=7),
        plan=own_plans[0],
    )
    limited = invites.redeem_invite(
        session=world.session, token=issued.token, telegram_user_id=99_999, language="zh_CN", now=NOW
    )
    unlimited = dict(
        session=world.session, department=world.departments["own"], now=NOW, ttl=dt.timedelta(days=7)
    )
    with pytest.raises(NotAllowed):
        invites.create_invite(**unlimited, role=ContactRole.lead, invited_by=limited)  # type: ignore[arg-type]
    invites.create_invite(**unlimited, role=ContactRole.lead, plan=own_plans[0], invited_by=limited)  # type: ignore[arg-type]
    invites.create_invite(**unlimited, role=ContactRole.contact, invited_by=limited)  # type: ignore[arg-type]


def test_every_refusal_is_a_domain_error() -> None:
    assert issubclass(NotAllowed, DomainError) and issubclass(NotFound, DomainError)
    assert Task and Department  # the tables the matrix reads


# ---------------------------------------------------------------- who hears of a 销号 request, who sees and revokes whom


def _invited(
    session: Session, department: Department, role: ContactRole, plan: Plan | None = None
) -> Contact:
    return invites.create_invite(
        session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7), plan=plan
    ).contact


def test_closeout_requests_go_to_the_coordinators_of_the_plans_county_and_plan(world: World) -> None:
    session = world.session
    own_plan = session.exec(select(Plan).where(Plan.region == OWN_COUNTY)).one()
    second_plan = Plan(
        key="second", title="第二个方案", issuer="甲", issued_on=dt.date(2024, 1, 1), region=OWN_COUNTY
    )
    session.add(second_plan)
    session.commit()
    for_own_plan = invites.redeem_invite(
        session=session,
        token=invites.create_invite(
            session=session,
            department=world.departments["other_department"],
            role=ContactRole.coordinator,
            now=NOW,
            ttl=dt.timedelta(days=7),
            plan=own_plan,
        ).token,
        telegram_user_id=next(_telegram_ids),
        language="zh_CN",
        now=NOW,
    )
    for_second_plan = _join(session, world.departments["own"], ContactRole.coordinator)
    for_second_plan.plan_id = second_plan.id
    session.add(for_second_plan)
    session.commit()
    _join(session, world.departments["other_county"], ContactRole.coordinator)  # another county
    _invited(session, world.departments["own"], ContactRole.coordinator)  # not joined: cannot be reached

    told = access.coordinators_for_plan(session=session, plan=own_plan)

    assert sorted(c.id or 0 for c in told) == sorted(
        [world.actors["coordinator"].id or 0, for_own_plan.id or 0]
    )


def test_a_coordinators_pending_closeouts_are_their_countys_undecided_requests_oldest_first(
    world: World,
) -> None:
    session, coordinator = world.session, world.actors["coordinator"]
    decided = world.closeout_id("own")
    progress.decide_closeout(
        session=session,
        coordinator=coordinator,
        closeout_id=decided,
        approve=True,
        reason="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    other_department = world.closeout_id("other_department")
    own = world.closeout_id("own")
    world.closeout_id("other_county")

    pending = progress.pending_closeouts(session=session, coordinator=coordinator)

    assert [c.id for c in pending] == [other_department, own]


def test_a_milestone_that_does_not_exist_is_not_found_like_another_countys(world: World) -> None:
    reader = world.actors["coordinator"]
    far = world.milestone("other_county").id or 0
    for milestone_id in (far, far + 10_000):
        with pytest.raises(NotFound):
            access.visible_milestone(session=world.session, reader=reader, milestone_id=milestone_id)
    milestone, task = access.visible_milestone(
        session=world.session, reader=reader, milestone_id=world.milestone("own").id or 0
    )
    assert task.id == milestone.task_id


def test_a_coordinator_sees_the_people_of_their_own_county_only(world: World) -> None:
    waiting = _invited(world.session, world.departments["other_department"], ContactRole.lead)
    members = invites.county_members(session=world.session, coordinator=world.actors["coordinator"], now=NOW)
    assert {m.region for m in members} == {OWN_COUNTY}
    assert world.reporters["other_department"].id in {m.contact.id for m in members}
    assert world.actors["revoked_coordinator"].id not in {m.contact.id for m in members}
    [waiting_member] = [m for m in members if m.contact.id == waiting.id]
    assert waiting_member.open_invite is not None and waiting_member.open_invite.expires_at > NOW
    joined = [m for m in members if m.contact.id == world.reporters["own"].id]
    assert joined[0].open_invite is None


def test_a_coordinator_limited_to_one_plan_revokes_contacts_and_that_plans_readers_only(world: World) -> None:
    session = world.session
    own_plan = session.exec(select(Plan).where(Plan.region == OWN_COUNTY)).one()
    limited = _join(session, world.departments["own"], ContactRole.coordinator)
    limited.plan_id = own_plan.id
    session.add(limited)
    county_wide_lead = _join(session, world.departments["own"], ContactRole.lead)
    plan_lead = _join(session, world.departments["own"], ContactRole.lead)
    plan_lead.plan_id = own_plan.id
    session.add(plan_lead)
    session.commit()

    with pytest.raises(NotAllowed):
        invites.deactivate_contact(session=session, contact_id=county_wide_lead.id or 0, now=NOW, by=limited)
    invites.deactivate_contact(session=session, contact_id=plan_lead.id or 0, now=NOW, by=limited)
    invites.deactivate_contact(
        session=session, contact_id=world.reporters["own"].id or 0, now=NOW, by=limited
    )
    # a county-wide coordinator may revoke anyone of the county, plan-limited or not
    invites.deactivate_contact(
        session=session, contact_id=limited.id or 0, now=NOW, by=world.actors["coordinator"]
    )
    with pytest.raises(InvalidInput) as twice:
        invites.deactivate_contact(
            session=session, contact_id=limited.id or 0, now=NOW, by=world.actors["coordinator"]
        )
    assert twice.value.reason == "already_inactive"  # the msgid the coordinator's reply is looked up by
    assert session.get(Contact, county_wide_lead.id).active  # type: ignore[union-attr]


def test_deactivating_one_person_kills_their_invitation_and_nobody_elses(world: World) -> None:
    session = world.session
    first = invites.create_invite(
        session=session,
        department=world.departments["own"],
        role=ContactRole.contact,
        now=NOW,
        ttl=dt.timedelta(days=7),
    )
    second = invites.create_invite(
        session=session,
        department=world.departments["own"],
        role=ContactRole.contact,
        now=NOW,
        ttl=dt.timedelta(days=7),
    )
    later = NOW + dt.timedelta(minutes=5)
    invites.deactivate_contact(
        session=session, contact_id=first.contact.id or 0, now=later, by=world.actors["coordinator"]
    )

    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "deactivate")).all()[-1]
    assert (entry.contact_id, entry.at, entry.detail) == (
        world.actors["coordinator"].id,
        later,
        f"contact={first.contact.id} role=contact",
    )
    with pytest.raises(InviteInvalid):
        invites.redeem_invite(
            session=session, token=first.token, telegram_user_id=8, language="zh_CN", now=later
        )
    joined = invites.redeem_invite(
        session=session, token=second.token, telegram_user_id=9, language="zh_CN", now=later
    )
    assert joined.id == second.contact.id and joined.active


# ---------------------------------------------------------------- a plan scope holds in every direction
#
# 甲县 has two plans. 教体局 leads a task in each, 财政局 one in the first plan only, 住建局 one in the second only.
# The actors are of 教体局, each twice: limited to no plan, and limited to the first plan (the coordinator by the
# operator's invitation, the contact by that coordinator's). "own_plan" is what lies in the first plan, "other_plan"
# what lies in the second; for an invitation, a department with a task in that plan only.

PLAN_SCOPES = ("own_plan", "other_plan")
PLAN_ROLES = ("contact", "plan_contact", "coordinator", "plan_coordinator")
SOON = TODAY + dt.timedelta(days=30)  # a due date whose 30-day reminder goes out today
KEYWORD = "教体局的任务"  # in the titles of 教体局's tasks in both plans


def _second_plan(session: Session, first: dict[str, Department]) -> tuple[Plan, Department]:
    plan = Plan(
        key=f"second-{OWN_COUNTY}",
        title=f"{OWN_COUNTY}第二个方案",
        issuer=OWN_COUNTY,
        issued_on=dt.date(2024, 1, 1),
        region=OWN_COUNTY,
    )
    only_here = Department(name="住建局", region=OWN_COUNTY)
    session.add_all([plan, only_here])
    session.flush()
    for position, department in enumerate((first["教体局"], only_here)):
        task = Task(
            plan_id=plan.id or 0,
            ref=f"（{position + 1}）",
            section="body",
            title=f"{department.name}的任务（第二个方案）",
            text="…",
            position=position,
        )
        session.add(task)
        session.flush()
        session.add(
            TaskDepartment(
                task_id=task.id or 0,
                department_id=department.id or 0,
                role=DepartmentRole.lead,
                printed_as=department.name,
            )
        )
        session.add_all(
            Milestone(
                task_id=task.id or 0, due_on=dt.date(2025, 1, 1) + dt.timedelta(days=day), target="目标"
            )
            for day in range(20)
        )
    session.commit()
    return plan, only_here


@dataclass
class PlanWorld:
    session: Session
    actors: dict[str, Contact]
    plans: dict[str, Plan]  # scope -> plan
    tasks: dict[str, Task]  # scope -> 教体局's task in that plan
    invitable: dict[str, Department]  # scope -> a department with a task in that plan only

    def milestone(self, scope: str) -> Milestone:
        """An open milestone, overdue, of 教体局's task in that plan."""
        milestone = self.session.exec(
            select(Milestone)
            .where(Milestone.task_id == self.tasks[scope].id, Milestone.status == MilestoneStatus.open)
            .where(Milestone.due_on < TODAY)
            .order_by(col(Milestone.id))
        ).first()
        assert milestone is not None
        return milestone

    def soon(self, scope: str) -> Milestone:
        """The milestone of 教体局's task in that plan that is reminded of today."""
        return self.session.exec(
            select(Milestone).where(Milestone.task_id == self.tasks[scope].id, Milestone.due_on == SOON)
        ).one()


@pytest.fixture
def plan_world(session: Session) -> PlanWorld:
    first = _county(session, OWN_COUNTY)
    second, only_second = _second_plan(session, first)
    own_plan = session.exec(select(Plan).where(Plan.key == f"plan-{OWN_COUNTY}")).one()
    plans = {"own_plan": own_plan, "other_plan": second}
    tasks = {
        scope: session.exec(
            select(Task)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Task.id)
            .where(Task.plan_id == plan.id, TaskDepartment.department_id == first["教体局"].id)
        ).one()
        for scope, plan in plans.items()
    }
    session.add_all(
        Milestone(task_id=task.id or 0, due_on=SOON, target="近期目标") for task in tasks.values()
    )
    session.commit()
    department = first["教体局"]
    plan_coordinator = invites.redeem_invite(
        session=session,
        token=invites.create_invite(
            session=session,
            department=department,
            role=ContactRole.coordinator,
            now=NOW,
            ttl=dt.timedelta(days=7),
            plan=own_plan,
        ).token,
        telegram_user_id=next(_telegram_ids),
        language="zh_CN",
        now=NOW,
    )
    plan_contact = (
        invites.redeem_invite(  # as the finding went: the plan's coordinator invites, naming no plan
            session=session,
            token=invites.create_invite(
                session=session,
                department=department,
                role=ContactRole.contact,
                now=NOW,
                ttl=dt.timedelta(days=7),
                invited_by=plan_coordinator,
            ).token,
            telegram_user_id=next(_telegram_ids),
            language="zh_CN",
            now=NOW,
        )
    )
    assert plan_contact.plan_id == own_plan.id  # the invitation carried the coordinator's plan
    actors = {
        "contact": _join(session, department, ContactRole.contact),
        "plan_contact": plan_contact,
        "coordinator": _join(session, department, ContactRole.coordinator),
        "plan_coordinator": plan_coordinator,
    }
    return PlanWorld(session, actors, plans, tasks, {"own_plan": first["财政局"], "other_plan": only_second})


def _invite_in_plan(w: PlanWorld, actor: Contact, scope: str) -> object:
    return invites.create_invite(
        session=w.session,
        department=w.invitable[scope],
        role=ContactRole.contact,
        now=NOW,
        ttl=dt.timedelta(days=7),
        plan=actor.plan,
        invited_by=actor,
    )


def _report_in_plan(w: PlanWorld, actor: Contact, scope: str) -> object:
    return progress.record_report(
        session=w.session,
        contact=actor,
        milestone_id=w.milestone(scope).id or 0,
        status=ReportStatus.on_track,
        percent=50,
        note="进展",
        now=NOW,
        tz=DEFAULT_TZ,
    )


def _task_detail_in_plan(w: PlanWorld, actor: Contact, scope: str) -> object:
    return tasks.task_detail(session=w.session, contact=actor, task_id=w.tasks[scope].id or 0, today=TODAY)


def _listed(w: PlanWorld, actor: Contact, scope: str) -> object:
    """任务: the scope's milestone is among the actor's lines."""
    lines = tasks.open_task_lines(session=w.session, contact=actor, today=TODAY)
    if w.milestone(scope).id not in {line.milestone_id for line in lines}:
        raise NotFound("not listed")
    return lines


def _found(w: PlanWorld, actor: Contact, scope: str) -> object:
    """查找: the scope's task is among what the keyword finds for the actor."""
    found = tasks.find_tasks(session=w.session, contact=actor, keyword=KEYWORD)
    if w.tasks[scope].id not in {task.id for task in found}:
        raise NotFound("not found")
    return found


def _reminded(w: PlanWorld, actor: Contact, scope: str) -> object:
    """The planner's outbox holds a reminder to the actor about the scope's milestone due in 30 days."""
    plan_outbox(session=w.session, now=NOW, policy=ReminderPolicy(), tz=TZ, stale_lookback_days=0)
    row = w.session.exec(
        select(Notification).where(
            Notification.contact_id == actor.id,
            Notification.milestone_id == w.soon(scope).id,
            Notification.kind == "reminder",
        )
    ).first()
    if row is None:
        raise NotFound("not reminded")
    return row


def _told_overdue(w: PlanWorld, actor: Contact, scope: str) -> object:
    """The overdue ladder's recipients (who_must_hear) of the scope's overdue milestone include the actor."""
    milestone_id = w.milestone(scope).id or 0
    hearers = recipients.who_must_hear(session=w.session, milestone_ids=[milestone_id])
    if actor.id not in {contact_id for contact_id, _because in hearers.get(milestone_id, [])}:
        raise NotFound("not told")
    return hearers


PLAN_ACTIONS: dict[str, Callable[[PlanWorld, Contact, str], object]] = {
    "invite": _invite_in_plan,
    "report": _report_in_plan,
    "task_detail": _task_detail_in_plan,
    "tasks": _listed,
    "find": _found,
    "reminders": _reminded,
    "overdue_ladder": _told_overdue,
}
BOTH = set(PLAN_SCOPES)
OWN_PLAN = {"own_plan"}
ALLOWED_IN_PLANS: dict[str, dict[str, set[str]]] = {
    "invite": {"coordinator": BOTH, "plan_coordinator": OWN_PLAN},
    "report": {"contact": BOTH, "plan_contact": OWN_PLAN},
    "task_detail": {
        "contact": BOTH,
        "plan_contact": OWN_PLAN,
        "coordinator": BOTH,
        "plan_coordinator": OWN_PLAN,
    },
    "tasks": {"contact": BOTH, "plan_contact": OWN_PLAN},
    "find": {"contact": BOTH, "plan_contact": OWN_PLAN, "coordinator": BOTH, "plan_coordinator": OWN_PLAN},
    "reminders": {"contact": BOTH, "plan_contact": OWN_PLAN},  # reminders go to contacts, never coordinators
    "overdue_ladder": {
        "contact": BOTH,
        "plan_contact": OWN_PLAN,
        "coordinator": BOTH,
        "plan_coordinator": OWN_PLAN,
    },
}


@pytest.mark.parametrize("action", PLAN_ACTIONS)
def test_a_plan_scope_allows_exactly_the_matrix(plan_world: PlanWorld, action: str) -> None:
    """Allowed: the action succeeds, or what it lists holds the scope's task, milestone or reminder."""
    outcome = {}
    for role, scope in itertools.product(PLAN_ROLES, PLAN_SCOPES):
        try:
            PLAN_ACTIONS[action](plan_world, plan_world.actors[role], scope)
            outcome[(role, scope)] = "allowed"
        except (NotAllowed, NotFound):
            plan_world.session.rollback()
            outcome[(role, scope)] = "refused"
        except InvalidInput as error:  # the set-up, not the rule, went wrong
            raise AssertionError((role, scope, error.reason)) from error
    expected = {
        (role, scope): "allowed" if scope in ALLOWED_IN_PLANS[action].get(role, set()) else "refused"
        for role, scope in itertools.product(PLAN_ROLES, PLAN_SCOPES)
    }
    assert outcome == expected


def test_a_plan_limited_coordinator_invites_readers_too_only_into_the_plans_departments(
    plan_world: PlanWorld,
) -> None:
    limited, own_plan = plan_world.actors["plan_coordinator"], plan_world.plans["own_plan"]

    def invite(scope: str, role: ContactRole, plan: Plan | None) -> Contact:
        return invites.create_invite(
            session=plan_world.session,
            department=plan_world.invitable[scope],
            role=role,
            now=NOW,
            ttl=dt.timedelta(days=7),
            plan=plan,
            invited_by=limited,
        ).contact

    for role in (ContactRole.coordinator, ContactRole.lead):
        assert invite("own_plan", role, own_plan).plan_id == own_plan.id
        with pytest.raises(NotAllowed):
            invite("other_plan", role, own_plan)  # the department has no task in the plan
        with pytest.raises(NotAllowed):
            invite("own_plan", role, plan_world.plans["other_plan"])
    with pytest.raises(NotAllowed):  # a contact's invitation names no other plan either
        invite("own_plan", ContactRole.contact, plan_world.plans["other_plan"])
    assert invite("own_plan", ContactRole.contact, None).plan_id == own_plan.id


def test_the_operator_scopes_a_contact_to_a_plan_where_the_department_has_a_task(
    plan_world: PlanWorld,
) -> None:
    def invite(scope: str, plan: str) -> Contact:
        return invites.create_invite(
            session=plan_world.session,
            department=plan_world.invitable[scope],
            role=ContactRole.contact,
            now=NOW,
            ttl=dt.timedelta(days=7),
            plan=plan_world.plans[plan],
        ).contact

    assert invite("other_plan", "other_plan").plan_id == plan_world.plans["other_plan"].id
    with pytest.raises(NotAllowed) as refused:
        invite("other_plan", "own_plan")  # a contact there would see nothing
    assert str(refused.value) == "department_outside_plan"
    entry = plan_world.session.exec(
        select(AuditEntry).where(AuditEntry.action == "invite").order_by(col(AuditEntry.id).desc())
    ).first()
    assert entry is not None and entry.detail == f"contact for 住建局 ({OWN_COUNTY}) plan=second-{OWN_COUNTY}"


def test_a_number_listed_before_the_contact_was_limited_to_a_plan_no_longer_reaches_the_other_plan(
    plan_world: PlanWorld,
) -> None:
    session, contact = plan_world.session, plan_world.actors["contact"]
    lines = tasks.open_task_lines(session=session, contact=contact, today=TODAY)
    other = next(line for line in lines if line.task_id == plan_world.tasks["other_plan"].id)
    own = next(line for line in lines if line.task_id == plan_world.tasks["own_plan"].id)
    contact.plan_id = plan_world.plans["own_plan"].id
    session.add(contact)
    session.commit()

    with pytest.raises(NumberNoLongerOpen) as refused:
        tasks.line_by_number(session=session, contact=contact, number=other.number, today=TODAY)
    assert refused.value.reason == "not_yours"
    assert tasks.line_by_number(session=session, contact=contact, number=own.number, today=TODAY) == own
    # the numbers the contact was shown keep their meaning: the list shows the same numbers, fewer of them
    again = tasks.open_task_lines(session=session, contact=contact, today=TODAY)
    assert {(line.number, line.milestone_id) for line in again} < {
        (line.number, line.milestone_id) for line in lines
    }


def test_a_replaced_contacts_messages_go_to_a_plan_limited_successor_only_about_its_plan(
    plan_world: PlanWorld,
) -> None:
    session, leaving = plan_world.session, plan_world.actors["contact"]
    rows = {
        scope: enqueue(
            session=session,
            key=f"follow:{scope}",
            kind="reminder",
            contact=leaving,
            payload={"days": 30},
            due_at=NOW,
            tz=TZ,
            milestone_id=plan_world.soon(scope).id,
            for_department=True,
        )
        for scope in PLAN_SCOPES
    }
    session.commit()
    invites.deactivate_contact(session=session, contact_id=leaving.id or 0, now=NOW)

    follow_current_contacts(session)
    session.commit()

    held = {scope: session.get(Notification, row.id).contact_id for scope, row in rows.items()}  # type: ignore[union-attr]
    # 教体局's one other contact is limited to the first plan: the second plan's reminder has nobody to go to
    assert held == {"own_plan": plan_world.actors["plan_contact"].id, "other_plan": leaving.id}


def test_a_joining_plan_limited_contact_has_only_their_plans_milestones_planned_again(
    plan_world: PlanWorld,
) -> None:
    session = plan_world.session
    before = inputs_version(session) or 0
    invites.redeem_invite(
        session=session,
        token=invites.create_invite(
            session=session,
            department=plan_world.tasks["own_plan"].departments(DepartmentRole.lead)[
                0
            ],  # 教体局: in both plans
            role=ContactRole.contact,
            now=NOW,
            ttl=dt.timedelta(days=7),
            invited_by=plan_world.actors["plan_coordinator"],
        ).token,
        telegram_user_id=next(_telegram_ids),
        language="zh_CN",
        now=NOW,
    )
    plan_of = dict(session.exec(select(Milestone.id, Task.plan_id).join(Task)).all())

    touched = touched_milestones(session=session, since=before, upto=inputs_version(session) or 0)

    assert touched and {plan_of[m] for m in touched or []} == {plan_world.plans["own_plan"].id}


def test_to_a_plan_limited_reader_a_report_on_another_plan_does_not_answer_that_plans_reminder(
    plan_world: PlanWorld,
) -> None:
    session, plan_contact, contact = (
        plan_world.session,
        plan_world.actors["plan_contact"],
        plan_world.actors["contact"],
    )
    other_plan_contact = _join(session, plan_world.invitable["own_plan"], ContactRole.contact)
    other_plan_contact.department_id = plan_contact.department_id
    other_plan_contact.plan_id = plan_world.plans["other_plan"].id
    session.add(other_plan_contact)
    sent = enqueue(
        session=session,
        key="silent:own",
        kind="reminder",
        contact=plan_contact,
        payload={"days": 30},
        due_at=NOW,
        tz=TZ,
        milestone_id=plan_world.soon("own_plan").id,
    )
    assert sent is not None
    sent.sent_at = NOW
    session.add(sent)
    session.commit()
    later = NOW + dt.timedelta(days=1)
    progress.record_report(  # 教体局's contact for the second plan reports there
        session=session,
        contact=other_plan_contact,
        milestone_id=plan_world.milestone("other_plan").id or 0,
        status=ReportStatus.on_track,
        percent=10,
        note="",
        now=later,
        tz=DEFAULT_TZ,
    )

    def silent(reader: str) -> list[str]:
        found = oversight.silent_departments(
            session=session, reader=plan_world.actors[reader], now=later + dt.timedelta(days=3)
        )
        return [s.department for s in found]

    assert silent("plan_coordinator") == ["教体局"]  # nothing reported on the first plan since its reminder
    assert silent("coordinator") == []  # to a county-wide reader the department spoke, as before
    progress.record_report(
        session=session,
        contact=contact,
        milestone_id=plan_world.milestone("own_plan").id or 0,
        status=ReportStatus.on_track,
        percent=10,
        note="",
        now=later,
        tz=DEFAULT_TZ,
    )
    assert silent("plan_coordinator") == []
