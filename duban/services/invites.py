"""Joining: one-time deep links bind a Telegram user to a contact of a department."""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from duban.services import audit
from duban.services.errors import InviteInvalid, NotFound
from duban.services.text import storable
from duban.status import find_departments
from models import Contact, ContactRole, Department, Invite, Plan


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    contact: Contact
    expires_at: dt.datetime

    def link(self, bot_username: str) -> str:
        return f"https://t.me/{bot_username}?start={self.token}"


def resolve_department(*, session: Session, name: str, region: str | None = None) -> Department:
    found = [
        d
        for d in find_departments(session=session, name=storable(name))
        if region is None or d.region == region
    ]
    if len(found) != 1:
        raise NotFound(name)
    return found[0]


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
    assert department.id is not None  # a stored row
    contact = Contact(department_id=department.id, role=role, plan_id=plan.id if plan else None, name=name)
    session.add(contact)
    session.flush()
    assert contact.id is not None  # flushed above
    token = secrets.token_urlsafe(24)  # 32 characters; Telegram allows up to 64 in a start parameter
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
        detail=f"{role.value} for {department.name} ({department.region})",
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
    """Bind the invited contact to the account that sent the token, on Telegram or on DingTalk (exactly one)."""
    if (telegram_user_id is None) == (dingtalk_user_id is None):
        raise ValueError("give exactly one of telegram_user_id, dingtalk_user_id")
    invite = session.exec(select(Invite).where(Invite.token_hash == _hash(token))).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        raise InviteInvalid(token)
    identity = (
        col(Contact.telegram_user_id) == telegram_user_id
        if telegram_user_id is not None
        else col(Contact.dingtalk_user_id) == dingtalk_user_id
    )
    already = session.exec(select(Contact).where(identity)).first()
    if already is not None and already.id != invite.contact_id:
        # one account speaks for one contact; the old binding is released, not duplicated
        if telegram_user_id is not None:
            already.telegram_user_id = None
        else:
            already.dingtalk_user_id = None
        session.add(already)
        session.flush()
    contact = session.get(Contact, invite.contact_id)
    assert contact is not None
    if telegram_user_id is not None:
        contact.telegram_user_id = telegram_user_id
    else:
        contact.dingtalk_user_id = dingtalk_user_id
    contact.language = language
    contact.joined_at = now
    contact.active = True
    invite.used_at = now
    session.add_all([contact, invite])
    audit.record(
        session, now=now, contact_id=contact.id, action="join", detail="dingtalk" if dingtalk_user_id else ""
    )
    session.commit()
    return contact


def contact_for_user(*, session: Session, telegram_user_id: int) -> Contact | None:
    return session.exec(
        select(Contact).where(Contact.telegram_user_id == telegram_user_id, Contact.active == True)  # noqa: E712
    ).first()


def contact_for_dingtalk_user(*, session: Session, dingtalk_user_id: str) -> Contact | None:
    return session.exec(
        select(Contact).where(Contact.dingtalk_user_id == dingtalk_user_id, Contact.active == True)  # noqa: E712
    ).first()
