"""Redeeming an invitation: one token, one contact, one Telegram account, once, before it expires."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, col, select

from duban.services.errors import ApproverIsRequester, InvalidInput, InviteInvalid, NotFound
from duban.services.invites import (
    IssuedInvite,
    cancel_invite,
    create_invite,
    open_invites,
    redeem_invite,
    resolve_department,
)
from duban.services.progress import decide_closeout, record_report
from duban.services.web_login import (
    LoginLinkInvalid,
    check_login_link,
    contact_for_session,
    issue_login_link,
    redeem_login_link,
)
from models import (
    AuditEntry,
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    Invite,
    Milestone,
    ReportStatus,
    TaskDepartment,
)
from models.limits import CONTACT_NAME
from tests.zones import DEFAULT_TZ

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)


def _issue(session: Session, role: ContactRole = ContactRole.contact) -> IssuedInvite:
    department = resolve_department(session=session, name="区教体局")
    return create_invite(session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7))


def _redeem(session: Session, token: str, user: int, now: dt.datetime = NOW) -> Contact:
    return redeem_invite(session=session, token=token, telegram_user_id=user, language="zh_CN", now=now)


def test_redeeming_binds_the_account_records_the_join_and_uses_only_that_invitation(seeded: Session) -> None:
    first, second = _issue(seeded), _issue(seeded)
    later = NOW + dt.timedelta(hours=1)
    contact = _redeem(seeded, first.token, 7, later)
    assert (contact.id, contact.telegram_user_id, contact.joined_at) == (first.contact.id, 7, later)
    [join] = seeded.exec(select(AuditEntry).where(AuditEntry.action == "join")).all()
    assert (join.contact_id, join.at) == (contact.id, later)
    used = {i.contact_id: i.used_at for i in seeded.exec(select(Invite)).all()}
    assert used == {first.contact.id: later, second.contact.id: None}
    assert _redeem(seeded, second.token, 8).id == second.contact.id  # the other invitation still works


@pytest.mark.parametrize(
    "token_of", [lambda t: t + "x", lambda t: t[:-1], lambda t: "A" * len(t), lambda t: ""], ids=str
)
def test_a_guessed_token_is_refused_and_leaves_the_real_one_usable(seeded: Session, token_of) -> None:  # type: ignore[no-untyped-def]
    issued = _issue(seeded)
    with pytest.raises(InviteInvalid):
        _redeem(seeded, token_of(issued.token), 7)
    assert seeded.exec(select(Invite)).one().used_at is None
    assert _redeem(seeded, issued.token, 7).id == issued.contact.id


def test_an_invitation_is_dead_from_the_moment_it_expires_and_after_use(seeded: Session) -> None:
    issued = _issue(seeded)
    with pytest.raises(InviteInvalid):
        _redeem(seeded, issued.token, 7, NOW + dt.timedelta(days=7))  # expires_at == now
    _redeem(seeded, issued.token, 7, NOW + dt.timedelta(days=7) - dt.timedelta(seconds=1))
    with pytest.raises(InviteInvalid):
        _redeem(seeded, issued.token, 8)


def test_one_account_speaks_for_one_contact_the_old_binding_is_released(seeded: Session) -> None:
    old = _redeem(seeded, _issue(seeded).token, 7)
    new = _redeem(seeded, _issue(seeded, ContactRole.coordinator).token, 7)
    seeded.expire_all()
    bound = seeded.exec(select(Contact).where(Contact.telegram_user_id == 7)).all()
    assert [c.id for c in bound] == [new.id]
    assert seeded.get(Contact, old.id).telegram_user_id is None  # type: ignore[union-attr]
    again = _redeem(seeded, _issue(seeded).token, 9)
    assert seeded.get(Contact, new.id).telegram_user_id == 7 and again.telegram_user_id == 9  # type: ignore[union-attr]


def test_an_invitation_already_used_cannot_be_cancelled_and_its_contact_keeps_access(seeded: Session) -> None:
    issued = _issue(seeded)
    joined = _redeem(seeded, issued.token, 7)
    invite = seeded.exec(select(Invite)).one()
    with pytest.raises(NotFound):
        cancel_invite(session=seeded, invite_id=invite.id or 0, now=NOW + dt.timedelta(hours=1))
    seeded.refresh(invite)
    assert invite.expires_at == NOW + dt.timedelta(days=7)
    assert seeded.get(Contact, joined.id).active  # type: ignore[union-attr]


def test_an_invitation_stops_being_open_and_cancellable_the_moment_it_expires(seeded: Session) -> None:
    issued = _issue(seeded)
    expiry = NOW + dt.timedelta(days=7)
    just_before = expiry - dt.timedelta(seconds=1)
    assert [m.contact.id for m in open_invites(session=seeded, now=just_before)] == [issued.contact.id]
    assert open_invites(session=seeded, now=expiry) == []
    invite = seeded.exec(select(Invite)).one()
    with pytest.raises(NotFound):
        cancel_invite(session=seeded, invite_id=invite.id or 0, now=expiry)


def test_cancelling_an_invitation_is_audited_as_the_operators(seeded: Session) -> None:
    issued = _issue(seeded)
    invite = seeded.exec(select(Invite)).one()
    later = NOW + dt.timedelta(hours=2)
    assert cancel_invite(session=seeded, invite_id=invite.id or 0, now=later).id == issued.contact.id
    [entry] = seeded.exec(select(AuditEntry).where(AuditEntry.action == "cancel_invite")).all()
    assert (entry.at, entry.contact_id, entry.detail) == (later, None, f"invite={invite.id}")
    assert open_invites(session=seeded, now=later) == []


def test_an_invitation_is_audited_as_its_inviter_with_role_department_and_county(seeded: Session) -> None:
    department = resolve_department(session=seeded, name="区教体局")
    coordinator = _redeem(seeded, _issue(seeded, ContactRole.coordinator).token, 31)
    create_invite(
        session=seeded,
        department=department,
        role=ContactRole.contact,
        now=NOW + dt.timedelta(hours=2),
        ttl=dt.timedelta(days=7),
        invited_by=coordinator,
    )
    entries = seeded.exec(
        select(AuditEntry).where(AuditEntry.action == "invite").order_by(col(AuditEntry.id))
    ).all()
    expected_detail = f"{{role}} for 区教体局 ({department.region})"
    assert [(e.contact_id, e.at, e.detail) for e in entries] == [
        (None, NOW, expected_detail.format(role="coordinator")),  # the operator's, from the CLI
        (coordinator.id, NOW + dt.timedelta(hours=2), expected_detail.format(role="contact")),
    ]


def test_a_contact_name_of_exactly_the_limit_is_kept_one_more_character_is_refused(seeded: Session) -> None:
    department = resolve_department(session=seeded, name="区教体局")

    def invite(name: str) -> IssuedInvite:
        return create_invite(
            session=seeded,
            department=department,
            role=ContactRole.contact,
            now=NOW,
            ttl=dt.timedelta(days=7),
            name=name,
        )

    assert invite("王" * CONTACT_NAME).contact.name == "王" * CONTACT_NAME
    before = len(seeded.exec(select(Contact)).all())
    with pytest.raises(InvalidInput) as refused:
        invite("王" * (CONTACT_NAME + 1))
    assert refused.value.reason == "too_long"
    assert len(seeded.exec(select(Contact)).all()) == before


def test_a_join_is_audited_with_the_channel_it_came_by(seeded: Session) -> None:
    on_telegram, on_dingtalk = _issue(seeded), _issue(seeded)
    _redeem(seeded, on_telegram.token, 41)
    joined = redeem_invite(
        session=seeded, token=on_dingtalk.token, dingtalk_user_id="staff-41", language="zh_CN", now=NOW
    )
    assert joined.dingtalk_user_id == "staff-41"
    joins = seeded.exec(
        select(AuditEntry).where(AuditEntry.action == "join").order_by(col(AuditEntry.id))
    ).all()
    assert [(e.contact_id, e.detail) for e in joins] == [
        (on_telegram.contact.id, ""),
        (on_dingtalk.contact.id, "dingtalk"),
    ]


def test_one_dingtalk_account_speaks_for_one_contact_and_other_accounts_keep_theirs(seeded: Session) -> None:
    def join_on_dingtalk(issued: IssuedInvite, staff_id: str) -> Contact:
        return redeem_invite(
            session=seeded, token=issued.token, dingtalk_user_id=staff_id, language="zh_CN", now=NOW
        )

    colleague = join_on_dingtalk(_issue(seeded), "staff-1")
    old = join_on_dingtalk(_issue(seeded), "staff-2")
    new = join_on_dingtalk(_issue(seeded, ContactRole.coordinator), "staff-2")
    seeded.expire_all()
    bound = {
        c.id: c.dingtalk_user_id for c in seeded.exec(select(Contact)).all() if c.dingtalk_user_id is not None
    }
    assert bound == {colleague.id: "staff-1", new.id: "staff-2"}
    released = seeded.get(Contact, old.id)
    assert released is not None and released.dingtalk_user_id is None  # released, not emptied


def _done_and_requested(session: Session, contact: Contact) -> int:
    """The contact reports their department's first led milestone done; returns the 销号 request's id."""
    milestone_id = session.exec(
        select(Milestone.id)
        .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
        .where(TaskDepartment.department_id == contact.department_id, TaskDepartment.role == "lead")
    ).first()
    assert milestone_id is not None
    outcome = record_report(
        session=session,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus.done,
        percent=100,
        note="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    assert outcome.closeout is not None and outcome.closeout.id is not None
    return outcome.closeout.id


@pytest.mark.parametrize("channel", ["telegram", "dingtalk"])
def test_a_contact_made_coordinator_by_a_new_invitation_cannot_approve_their_own_closeout(
    seeded: Session, channel: str
) -> None:
    account = {"telegram_user_id": 7} if channel == "telegram" else {"dingtalk_user_id": "staff-7"}
    contact = redeem_invite(session=seeded, token=_issue(seeded).token, language="zh_CN", now=NOW, **account)
    request = _done_and_requested(seeded, contact)

    promoted = redeem_invite(
        session=seeded,
        token=_issue(seeded, ContactRole.coordinator).token,
        language="zh_CN",
        now=NOW,
        **account,
    )

    assert promoted.id != contact.id and promoted.person_id == contact.id
    with pytest.raises(ApproverIsRequester):
        decide_closeout(
            session=seeded,
            coordinator=promoted,
            closeout_id=request,
            approve=True,
            reason="",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    seeded.rollback()
    assert seeded.get(CloseoutRequest, request).status == CloseoutStatus.pending  # type: ignore[union-attr]
    colleague = _redeem(seeded, _issue(seeded, ContactRole.coordinator).token, 8)
    decision = decide_closeout(
        session=seeded,
        coordinator=colleague,
        closeout_id=request,
        approve=True,
        reason="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    assert decision.closeout.status == CloseoutStatus.approved


def test_a_person_promoted_twice_is_still_one_person(seeded: Session) -> None:
    contact = _redeem(seeded, _issue(seeded).token, 7)
    request = _done_and_requested(seeded, contact)
    lead = _redeem(seeded, _issue(seeded, ContactRole.lead).token, 7)
    coordinator = _redeem(seeded, _issue(seeded, ContactRole.coordinator).token, 7)
    assert (lead.person_id, coordinator.person_id) == (contact.id, contact.id)
    with pytest.raises(ApproverIsRequester):
        decide_closeout(
            session=seeded,
            coordinator=coordinator,
            closeout_id=request,
            approve=True,
            reason="",
            now=NOW,
            tz=DEFAULT_TZ,
        )


def test_taking_up_a_new_invitation_ends_the_old_rows_web_sessions_and_sign_in_links(seeded: Session) -> None:
    lead = _redeem(seeded, _issue(seeded, ContactRole.lead).token, 7)
    browser = redeem_login_link(
        session=seeded,
        token=issue_login_link(session=seeded, contact=lead, now=NOW).token,
        now=NOW,
        ttl=dt.timedelta(hours=8),
    )
    unused = issue_login_link(session=seeded, contact=lead, now=NOW)
    later = NOW + dt.timedelta(minutes=1)
    assert contact_for_session(session=seeded, token=browser.token, now=later) is not None

    _redeem(seeded, _issue(seeded, ContactRole.coordinator).token, 7, later)

    assert contact_for_session(session=seeded, token=browser.token, now=later) is None
    with pytest.raises(LoginLinkInvalid):
        check_login_link(session=seeded, token=unused.token, now=later)
