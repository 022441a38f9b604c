"""Joining and leaving: one-time deep links bind a Telegram user to a contact; coordinators revoke access."""

import datetime as dt
import hashlib
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from duban.services import audit, web_login
from duban.services.access import region_of, require_coordinator
from duban.services.errors import InvalidInput, InviteInvalid, NotAllowed, NotFound
from duban.services.text import storable
from duban.status import find_departments
from models import Contact, ContactRole, Department, Invite, Plan, Task, TaskDepartment, limits
from models.people import person_of

# letters and digits only: nothing in the code is markup anywhere (DingTalk's markdown escaped the - and _ of
# token_urlsafe codes, and a person who copied the message pasted the backslashes too)
CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 32  # 190 bits; Telegram allows up to 64 characters in a start parameter


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invite_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    contact: Contact
    expires_at: dt.datetime

    def link(self, bot_username: str) -> str:
        return f"https://t.me/{bot_username}?start={self.token}"


def resolve_department(*, session: Session, name: str, region: str | None = None) -> Department:
    """The one department of this name (or alias), within `region` when given: 区财政局 exists in two counties."""
    found = [
        d
        for d in find_departments(session=session, name=storable(name))
        if region is None or d.region == region
    ]
    if len(found) != 1:
        raise NotFound(name)
    return found[0]


def department_regions(*, session: Session, name: str) -> list[str]:
    """The counties that have a department of this name: what to offer when the name alone is ambiguous."""
    return sorted({d.region for d in find_departments(session=session, name=storable(name))})


def _check_inviter(
    *, session: Session, inviter: Contact, department: Department, role: ContactRole, plan: Plan | None
) -> None:
    """A coordinator invites within their own county; one limited to a plan invites for that plan only (readers
    for it, contacts scoped to it), and only into a department with a task in it (lead or co)."""
    require_coordinator(inviter)
    if department.region != region_of(session=session, contact=inviter):
        raise NotAllowed("another_county")
    if inviter.plan_id is None:
        return
    # a reader's invitation names the plan; a contact's takes the inviter's when it names none (create_invite)
    if plan is None and role != ContactRole.contact:
        raise NotAllowed("another_plan")
    if plan is not None and plan.id != inviter.plan_id:
        raise NotAllowed("another_plan")
    if not _has_task_in(session=session, department=department, plan_id=inviter.plan_id):
        raise NotAllowed("department_outside_plan")


def _has_task_in(*, session: Session, department: Department, plan_id: int) -> bool:
    """Whether the department leads or cooperates on a task of this plan."""
    return (
        session.exec(
            select(TaskDepartment.task_id)
            .join(Task, col(Task.id) == TaskDepartment.task_id)
            .where(TaskDepartment.department_id == department.id, Task.plan_id == plan_id)
            .limit(1)
        ).first()
        is not None
    )


def create_invite(
    *,
    session: Session,
    department: Department,
    role: ContactRole,
    now: dt.datetime,
    ttl: dt.timedelta,
    plan: Plan | None = None,
    name: str = "",
    invited_by: Contact | None = None,
) -> IssuedInvite:
    """A new contact and its one-time link. `invited_by` is the coordinator asking in chat; None is the operator (CLI)."""
    assert department.id is not None  # a stored row
    if plan is not None and plan.region != department.region:
        raise NotAllowed("plan_of_another_county")  # it would let the invitee approve another county's 销号
    if invited_by is not None:
        _check_inviter(session=session, inviter=invited_by, department=department, role=role, plan=plan)
        if plan is None and invited_by.plan_id is not None:  # the scope goes with the invitation
            plan = session.get(Plan, invited_by.plan_id)
    # the operator's invitation too: a contact limited to a plan where their department has no task sees nothing
    if (
        role == ContactRole.contact
        and plan is not None
        and not _has_task_in(session=session, department=department, plan_id=plan.id or 0)
    ):
        raise NotAllowed("department_outside_plan")
    name = storable(name).strip()
    if len(name) > limits.CONTACT_NAME:
        raise InvalidInput("too_long")
    contact = Contact(department_id=department.id, role=role, plan_id=plan.id if plan else None, name=name)
    session.add(contact)
    session.flush()
    assert contact.id is not None  # flushed above
    token = new_invite_code()
    expires_at = now + ttl
    session.add(
        Invite(
            token_hash=_hash(token), contact_id=contact.id, role=role, created_at=now, expires_at=expires_at
        )
    )
    audit.record(
        session,
        now=now,
        contact_id=invited_by.id if invited_by else None,
        action="invite",
        detail=f"{role.value} for {department.name} ({department.region})"
        + (f" plan={plan.key}" if plan is not None else ""),
    )
    session.commit()
    return IssuedInvite(token=token, contact=contact, expires_at=expires_at)


def redeem_invite(
    *,
    session: Session,
    token: str,
    language: str,
    now: dt.datetime,
    telegram_user_id: int | None = None,
    dingtalk_user_id: str | None = None,
) -> Contact:
    """Bind the invited contact to the account that sent the token, on Telegram or on DingTalk (exactly one).

    One conditional UPDATE claims the invite, so of two simultaneous redemptions of one token exactly one wins.
    The SELECT before it only spares a wrong or used token any write; the UPDATE alone decides.
    """
    if (telegram_user_id is None) == (dingtalk_user_id is None):
        raise ValueError("give exactly one of telegram_user_id, dingtalk_user_id")
    usable = (col(Invite.used_at).is_(None), col(Invite.expires_at) > now)
    invite_id = session.exec(select(Invite.id).where(Invite.token_hash == _hash(token), *usable)).first()
    claimed = (
        session.execute(
            update(Invite)
            .where(col(Invite.id) == invite_id, *usable)
            .values(used_at=now)
            .returning(col(Invite.contact_id))
        ).first()
        if invite_id is not None
        else None
    )
    contact = session.get(Contact, claimed[0]) if claimed else None
    if contact is None or not contact.active:
        session.rollback()
        raise InviteInvalid(token)
    identity = (
        col(Contact.telegram_user_id) == telegram_user_id
        if telegram_user_id is not None
        else col(Contact.dingtalk_user_id) == dingtalk_user_id
    )
    already = session.exec(select(Contact).where(identity)).first()
    if already is not None and already.id != contact.id:
        # one account speaks for one contact; the old binding is released, not duplicated. The rows are one
        # person's (so they cannot approve what they asked for under the old one), and what the old row had
        # opened on the web ends: the person acts under the new row from now on
        if telegram_user_id is not None:
            already.telegram_user_id = None
        else:
            already.dingtalk_user_id = None
        contact.person_id = person_of(already)
        session.add(already)
        session.flush()
        web_login.end_web_access(session=session, contact_id=already.id, now=now)
    if telegram_user_id is not None:
        contact.telegram_user_id = telegram_user_id
    else:
        contact.dingtalk_user_id = dingtalk_user_id
    contact.language = language
    contact.joined_at = now
    session.add(contact)
    audit.record(
        session, now=now, contact_id=contact.id, action="join", detail="dingtalk" if dingtalk_user_id else ""
    )
    session.commit()
    return contact


def contact_for_user(*, session: Session, telegram_user_id: int) -> Contact | None:
    """The active contact this Telegram user speaks for; a deactivated one is nobody from the next update on."""
    return session.exec(
        select(Contact).where(Contact.telegram_user_id == telegram_user_id, col(Contact.active).is_(True))
    ).first()


def contact_for_dingtalk_user(*, session: Session, dingtalk_user_id: str) -> Contact | None:
    return session.exec(
        select(Contact).where(Contact.dingtalk_user_id == dingtalk_user_id, Contact.active == True)  # noqa: E712
    ).first()


# ---------------------------------------------------------------- revocation


@dataclass(frozen=True)
class Member:
    """One active contact of a county, as a coordinator sees it in /contacts and the CLI in `duban contacts list`."""

    contact: Contact
    department: str
    region: str
    open_invite: Invite | None  # not yet used and not expired: the person has not joined yet


def _members(*, session: Session, region: str | None, now: dt.datetime) -> list[Member]:
    statement = (
        select(Contact, Department)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(col(Contact.active).is_(True))
        .order_by(col(Department.region), col(Department.name), col(Contact.role), col(Contact.id))
    )
    if region is not None:
        statement = statement.where(Department.region == region)
    rows = session.exec(statement).all()
    open_invites = {
        invite.contact_id: invite
        for invite in session.exec(
            select(Invite).where(
                col(Invite.contact_id).in_([c.id for c, _ in rows]),
                col(Invite.used_at).is_(None),
                col(Invite.expires_at) > now,
            )
        ).all()
    }
    return [Member(c, d.name, d.region, open_invites.get(c.id or 0)) for c, d in rows]


def county_members(*, session: Session, coordinator: Contact, now: dt.datetime) -> list[Member]:
    """Everyone who can act for the coordinator's county: contacts, coordinators, leads, and unused invites."""
    require_coordinator(coordinator)
    return _members(session=session, region=region_of(session=session, contact=coordinator), now=now)


def all_members(*, session: Session, now: dt.datetime, region: str | None = None) -> list[Member]:
    """The operator's view (CLI): every county, or one."""
    return _members(session=session, region=region, now=now)


def _revocable(*, session: Session, by: Contact | None, contact_id: int) -> Contact:
    """The contact `by` may deactivate: one of their own county (a plan-limited coordinator: contacts and their
    plan's readers), never themselves. `by` None is the operator."""
    target = session.get(Contact, contact_id)
    if by is None:
        if target is None:
            raise NotFound(str(contact_id))
        return target
    require_coordinator(by)
    if target is None or region_of(session=session, contact=target) != region_of(session=session, contact=by):
        raise NotFound(str(contact_id))  # another county's people do not exist for this coordinator
    if target.id == by.id:
        raise InvalidInput("revoke_self")
    if by.plan_id is not None and target.role != ContactRole.contact and target.plan_id != by.plan_id:
        raise NotAllowed("another_plan")
    return target


def deactivate_contact(
    *, session: Session, contact_id: int, now: dt.datetime, by: Contact | None = None
) -> Contact:
    """Access ends with the next update: the bot no longer knows this Telegram user; unused invites die too."""
    target = _revocable(session=session, by=by, contact_id=contact_id)
    if not target.active:
        raise InvalidInput("already_inactive")
    target.active = False
    session.add(target)
    session.execute(
        update(Invite)
        .where(
            col(Invite.contact_id) == target.id, col(Invite.used_at).is_(None), col(Invite.expires_at) > now
        )
        .values(expires_at=now)
    )
    audit.record(
        session,
        now=now,
        contact_id=by.id if by else None,
        action="deactivate",
        detail=f"contact={target.id} role={target.role}",
    )
    session.commit()
    return target


def open_invites(*, session: Session, now: dt.datetime, region: str | None = None) -> list[Member]:
    """Invites not yet used and not expired (the operator's `duban invite --list`)."""
    return [m for m in all_members(session=session, now=now, region=region) if m.open_invite is not None]


def cancel_invite(*, session: Session, invite_id: int, now: dt.datetime) -> Contact:
    """The operator's `duban invite --cancel N`: an unused invite stops working, and the contact it was for, never
    joined, is deactivated with it. (In chat, /revoke does the same within a coordinator's own county.)"""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        raise NotFound(str(invite_id))
    target = session.get(Contact, invite.contact_id)
    assert target is not None  # a foreign key
    invite.expires_at = now
    session.add(invite)
    if target.joined_at is None:
        target.active = False
        session.add(target)
    audit.record(session, now=now, contact_id=None, action="cancel_invite", detail=f"invite={invite.id}")
    session.commit()
    return target
