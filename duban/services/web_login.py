"""Signing in to the web dashboard without a password: a single-use link asked for in chat opens a session.

A coordinator or lead sends /web and gets a link valid for ten minutes. Opening it (and pressing the button on
the page it shows, so a link preview cannot spend it) starts a browser session that ends after some hours or on
logout. Only digests of both tokens are stored. What a session may see is decided again on every request from
the contact behind it, so a contact made inactive or moved to another role loses the dashboard at once.
"""

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from duban.services import audit
from duban.services.access import require_reader
from duban.services.errors import DomainError
from models import Contact, ContactRole, Department, WebLogin, WebSession

LOGIN_TTL = dt.timedelta(minutes=10)
LOGIN_PATH = "/login/"
READER_ROLES = (ContactRole.coordinator, ContactRole.lead)


class LoginLinkInvalid(DomainError):
    """The link cannot open a session; `reason` says why, so the page can say so."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unknown", "expired" or "used"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedLogin:
    token: str
    expires_at: dt.datetime

    def link(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{LOGIN_PATH}{self.token}"


def issue_login_link(
    *, session: Session, contact: Contact, now: dt.datetime, issued_by: str = ""
) -> IssuedLogin:
    """Coordinators and leads only: contacts report in chat and get no dashboard. `issued_by` names an operator who
    asked for the link on the reader's behalf (`duban web link`); the audit row is the chat's /web one either way."""
    require_reader(contact)
    assert contact.id is not None  # a stored row
    token = secrets.token_urlsafe(32)
    expires_at = now + LOGIN_TTL
    session.add(
        WebLogin(token_hash=_digest(token), contact_id=contact.id, created_at=now, expires_at=expires_at)
    )
    audit.record(session, now=now, contact_id=contact.id, action="web_link", detail=issued_by)
    session.commit()
    return IssuedLogin(token=token, expires_at=expires_at)


def readers(
    *, session: Session, department_id: int | None = None, region: str | None = None
) -> list[Contact]:
    """The active coordinators and leads of a department, or of a county, in number order: whom an operator may
    hand a sign-in link (`duban web link --department/--region`)."""
    query = (
        select(Contact)
        .join(Department, col(Department.id) == Contact.department_id)
        .where(col(Contact.active).is_(True), col(Contact.role).in_(READER_ROLES))
        .order_by(col(Contact.id))
    )
    if department_id is not None:
        query = query.where(Contact.department_id == department_id)
    if region is not None:
        query = query.where(Department.region == region)
    return list(session.exec(query).all())


def check_login_link(*, session: Session, token: str, now: dt.datetime) -> WebLogin:
    """The link's row if it can still open a session; changes nothing."""
    login = session.exec(select(WebLogin).where(WebLogin.token_hash == _digest(token))).first()
    if login is None:
        raise LoginLinkInvalid("unknown")
    if login.used_at is not None:
        raise LoginLinkInvalid("used")
    if login.expires_at <= now:
        raise LoginLinkInvalid("expired")
    contact = session.get(Contact, login.contact_id)
    if contact is None or not contact.active or contact.role not in READER_ROLES:
        raise LoginLinkInvalid("unknown")
    return login


@dataclass(frozen=True)
class OpenedSession:
    token: str  # goes into the cookie; never stored
    contact_id: int
    expires_at: dt.datetime


def redeem_login_link(*, session: Session, token: str, now: dt.datetime, ttl: dt.timedelta) -> OpenedSession:
    """Spend the link and open a session. The link is marked used in the same transaction, so a second tab
    (or a second process) that redeems it concurrently finds it used: the UPDATE is conditional."""
    login = check_login_link(session=session, token=token, now=now)
    claimed = session.execute(
        update(WebLogin)
        .where(col(WebLogin.id) == login.id, col(WebLogin.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not isinstance(claimed, CursorResult) or claimed.rowcount != 1:
        session.rollback()
        raise LoginLinkInvalid("used")
    session_token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        WebSession(
            token_hash=_digest(session_token),
            contact_id=login.contact_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    audit.record(session, now=now, contact_id=login.contact_id, action="web_login")
    session.commit()
    return OpenedSession(token=session_token, contact_id=login.contact_id, expires_at=expires_at)


def contact_for_session(*, session: Session, token: str, now: dt.datetime) -> Contact | None:
    """The coordinator or lead signed in with this cookie, or None (unknown, expired, ended, or no longer a
    reader)."""
    if not token:
        return None
    row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    contact = session.get(Contact, row.contact_id)
    if contact is None or not contact.active or contact.role not in READER_ROLES:
        return None
    return contact


def end_session(*, session: Session, token: str, now: dt.datetime) -> None:
    row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
    if row is None or row.ended_at is not None:
        return
    row.ended_at = now
    session.add(row)
    audit.record(session, now=now, contact_id=row.contact_id, action="web_logout")
    session.commit()


def csrf_token(session_token: str) -> str:
    """The token every form of this session carries: derived from the session's secret, stored nowhere."""
    return hmac.new(session_token.encode(), b"duban-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, submitted: str) -> bool:
    return bool(session_token) and hmac.compare_digest(csrf_token(session_token), submitted)


def end_web_access(*, session: Session, contact_id: int | None, now: dt.datetime) -> None:
    """Every browser session of the contact ends and their unused sign-in links stop working (a person who took
    up a new invitation acts under their new row; what the old one opened must not outlive it)."""
    session.execute(
        update(WebSession)
        .where(col(WebSession.contact_id) == contact_id, col(WebSession.ended_at).is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(WebLogin)
        .where(
            col(WebLogin.contact_id) == contact_id,
            col(WebLogin.used_at).is_(None),
            col(WebLogin.expires_at) > now,
        )
        .values(expires_at=now)
    )
