"""Reports and 销号 requests: taking a misread report back (撤销) leaves the request as it was before that report."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from duban.services.errors import InvalidInput
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from duban.services.progress import (
    MAX_NOTE_LENGTH,
    decide_closeout,
    milestone_for_reply,
    parse_progress_text,
    record_report,
    undo_report,
)
from duban.status import milestone_views
from models import (
    AuditEntry,
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    ReportStatus,
    TaskDepartment,
)
from models.limits import CLOSEOUT_REASON
from tests.zones import DEFAULT_TZ

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)


def _join(session: Session, role: ContactRole, user_id: int) -> Contact:
    department = resolve_department(session=session, name="区教体局")
    issued = create_invite(
        session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7)
    )
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=NOW
    )


def _led_milestones(session: Session, contact: Contact) -> list[int]:
    return [
        m or 0
        for m in session.exec(
            select(Milestone.id)
            .join(TaskDepartment, col(TaskDepartment.task_id) == Milestone.task_id)
            .where(
                TaskDepartment.department_id == contact.department_id,
                TaskDepartment.role == DepartmentRole.lead,
            )
            .order_by(col(Milestone.id))
        ).all()
    ]


def _report(
    session: Session,
    contact: Contact,
    milestone_id: int,
    minute: int,
    status: ReportStatus = ReportStatus.done,
) -> ProgressReport:
    return record_report(
        session=session,
        contact=contact,
        milestone_id=milestone_id,
        status=status,
        percent=100 if status == ReportStatus.done else 50,
        note=f"第{minute}分钟",
        now=NOW + dt.timedelta(minutes=minute),
        tz=DEFAULT_TZ,
    ).report


def _undo_entries(session: Session) -> list[tuple[str, dt.datetime, int | None, int | None, str]]:
    return [
        (e.action, e.at, e.contact_id, e.milestone_id, e.detail)
        for e in session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).in_(["closeout_withdrawn", "report_undone"]))
            .order_by(col(AuditEntry.id))
        ).all()
    ]


def test_undoing_a_second_done_report_points_the_request_back_at_the_previous_one(seeded: Session) -> None:
    contact = _join(seeded, ContactRole.contact, 1001)
    first, other = _led_milestones(seeded, contact)[:2]
    _report(seeded, contact, other, 0)  # a done report on another milestone, older than all below
    opened = _report(seeded, contact, first, 1)  # opens the request
    refreshed = _report(seeded, contact, first, 2)  # a second 已完成 refreshes it
    _report(seeded, contact, first, 3, ReportStatus.on_track)  # progress in between is not a done report
    _report(seeded, contact, other, 3)  # nor is a done report on another milestone
    last = _report(seeded, contact, first, 4)
    [request] = seeded.exec(select(CloseoutRequest).where(CloseoutRequest.milestone_id == first)).all()
    assert (request.report_id, request.requested_at) == (last.id, NOW + dt.timedelta(minutes=1))
    assert opened.id

    undo_report(session=seeded, contact=contact, report_id=last.id or 0, now=NOW + dt.timedelta(minutes=5))

    seeded.refresh(request)
    assert (request.status, request.report_id) == (CloseoutStatus.pending, refreshed.id)
    assert seeded.get(ProgressReport, last.id) is None
    assert _undo_entries(seeded) == [
        (
            "report_undone",
            NOW + dt.timedelta(minutes=5),
            contact.id,
            first,
            f"report={last.id} status=done percent=100",
        ),
    ]


def test_undoing_the_report_that_opened_a_request_withdraws_it_even_after_an_earlier_rejection(
    seeded: Session,
) -> None:
    contact = _join(seeded, ContactRole.contact, 1001)
    coordinator = _join(seeded, ContactRole.coordinator, 2002)
    [milestone_id, *_] = _led_milestones(seeded, contact)
    _report(seeded, contact, milestone_id, 0)
    [rejected] = seeded.exec(select(CloseoutRequest)).all()
    decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=rejected.id or 0,
        approve=False,
        reason="缺少佐证材料",
        now=NOW + dt.timedelta(minutes=1),
        tz=DEFAULT_TZ,
    )
    again = _report(seeded, contact, milestone_id, 2)  # a new request, opened by this report
    [reopened] = seeded.exec(
        select(CloseoutRequest).where(CloseoutRequest.status == CloseoutStatus.pending)
    ).all()
    assert reopened.report_id == again.id

    undone_at = NOW + dt.timedelta(minutes=3)
    undo_report(session=seeded, contact=contact, report_id=again.id or 0, now=undone_at)

    assert [(c.id, c.status) for c in seeded.exec(select(CloseoutRequest)).all()] == [
        (rejected.id, CloseoutStatus.rejected)
    ]
    assert _undo_entries(seeded) == [
        ("closeout_withdrawn", undone_at, contact.id, milestone_id, f"closeout={reopened.id}"),
        ("report_undone", undone_at, contact.id, milestone_id, f"report={again.id} status=done percent=100"),
    ]


def test_undo_is_possible_for_exactly_ten_minutes(seeded: Session) -> None:
    contact = _join(seeded, ContactRole.contact, 1001)
    first, second = _led_milestones(seeded, contact)[:2]
    in_time = _report(seeded, contact, first, 0, ReportStatus.on_track)
    too_late = _report(seeded, contact, second, 0, ReportStatus.on_track)
    undo_report(
        session=seeded, contact=contact, report_id=in_time.id or 0, now=NOW + dt.timedelta(minutes=10)
    )
    with pytest.raises(InvalidInput) as refused:
        undo_report(
            session=seeded,
            contact=contact,
            report_id=too_late.id or 0,
            now=NOW + dt.timedelta(minutes=10, seconds=1),
        )
    assert refused.value.reason == "undo_too_late"
    assert [r.id for r in seeded.exec(select(ProgressReport)).all()] == [too_late.id]


def _sent(session: Session, contact: Contact, milestone_id: int, message_id: str) -> None:
    row = enqueue(
        session=session,
        key=f"reply-test:{contact.id}:{milestone_id}:{message_id}",
        kind="reminder",
        contact=contact,
        payload={"days": 7},
        due_at=NOW,
        milestone_id=milestone_id,
        tz=TZ,
    )
    assert row is not None
    row.sent_at, row.platform_message_id = NOW, message_id
    session.add(row)
    session.commit()


def test_a_reply_names_the_milestone_of_the_repliers_own_message_and_a_bundle_names_none(
    seeded: Session,
) -> None:
    contact = _join(seeded, ContactRole.contact, 1001)
    other = _join(seeded, ContactRole.contact, 1002)
    first, second = _led_milestones(seeded, contact)[:2]
    _sent(seeded, other, second, "77")  # message ids are per chat: another chat's 77 is another message
    _sent(seeded, contact, second, "76")  # an earlier message of this chat, about the other milestone
    _sent(seeded, contact, first, "77")
    assert milestone_for_reply(session=seeded, contact=contact, platform_message_id="77") == first
    _sent(seeded, contact, first, "78")
    _sent(seeded, contact, second, "78")  # one message listing two milestones
    with pytest.raises(InvalidInput) as refused:
        milestone_for_reply(session=seeded, contact=contact, platform_message_id="78")
    assert refused.value.reason == "reply_to_bundle"


def test_a_note_of_exactly_the_limit_is_kept_one_more_character_is_refused() -> None:
    assert parse_progress_text("完" * MAX_NOTE_LENGTH).note == "完" * MAX_NOTE_LENGTH
    with pytest.raises(InvalidInput):
        parse_progress_text("完" * (MAX_NOTE_LENGTH + 1))


def _join_department(session: Session, department_id: int, role: ContactRole, user_id: int) -> Contact:
    department = session.get(Department, department_id)
    assert department is not None
    issued = create_invite(
        session=session, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7)
    )
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=NOW
    )


def _closeouts(session: Session, milestone_id: int) -> list[CloseoutRequest]:
    return list(
        session.exec(select(CloseoutRequest).where(CloseoutRequest.milestone_id == milestone_id)).all()
    )


def test_only_the_lead_departments_done_report_opens_a_closeout_request(seeded: Session) -> None:
    """已完成 from a co department, or progress from the lead, is a report and no 销号 request."""
    co_link, shared = seeded.exec(
        select(TaskDepartment, Milestone.id)
        .join(Milestone, col(Milestone.task_id) == TaskDepartment.task_id)
        .where(TaskDepartment.role == DepartmentRole.co)
        .order_by(col(Milestone.id))
    ).first() or (None, None)
    assert co_link is not None and shared is not None
    co_contact = _join_department(seeded, co_link.department_id, ContactRole.contact, 2001)
    _join_department(
        seeded, co_link.department_id, ContactRole.coordinator, 2004
    )  # someone a request would go to
    co_report = _report(seeded, co_contact, shared, 1)
    assert co_report.status == ReportStatus.done
    assert _closeouts(seeded, shared) == []

    lead = _join(seeded, ContactRole.contact, 2002)
    _join(seeded, ContactRole.coordinator, 2003)
    first, second = _led_milestones(seeded, lead)[:2]
    _report(seeded, lead, first, 2, status=ReportStatus.on_track)
    assert _closeouts(seeded, first) == []
    _report(seeded, lead, second, 3)
    (request,) = _closeouts(seeded, second)
    assert (request.status, request.requested_by) == (CloseoutStatus.pending, lead.id)


def test_an_approval_closes_the_milestone_and_records_who_decided_and_when(seeded: Session) -> None:
    lead = _join(seeded, ContactRole.contact, 2101)
    coordinator = _join(seeded, ContactRole.coordinator, 2102)
    approved_id, rejected_id = _led_milestones(seeded, lead)[:2]
    _report(seeded, lead, approved_id, 1)
    _report(seeded, lead, rejected_id, 2)
    (to_approve,) = _closeouts(seeded, approved_id)
    (to_reject,) = _closeouts(seeded, rejected_id)
    decided_at = NOW + dt.timedelta(hours=3)

    approval = decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=to_approve.id or 0,
        approve=True,
        reason="",
        now=decided_at,
        tz=DEFAULT_TZ,
    )
    assert (approval.closeout.status, approval.closeout.decided_by, approval.closeout.decided_at) == (
        CloseoutStatus.approved,
        coordinator.id,
        decided_at,
    )
    assert approval.closeout.reason is None
    assert (approval.milestone.id, approval.requester.id) == (approved_id, lead.id)
    milestone = seeded.get(Milestone, approved_id)
    assert milestone is not None
    assert (milestone.status, milestone.done_at) == (MilestoneStatus.done, decided_at)

    rejection = decide_closeout(
        session=seeded,
        coordinator=coordinator,
        closeout_id=to_reject.id or 0,
        approve=False,
        reason=" 缺少佐证材料 ",
        now=decided_at,
        tz=DEFAULT_TZ,
    )
    assert (rejection.closeout.status, rejection.closeout.reason) == (CloseoutStatus.rejected, "缺少佐证材料")
    still_open = seeded.get(Milestone, rejected_id)
    assert still_open is not None
    assert (still_open.status, still_open.done_at) == (MilestoneStatus.open, None)

    decisions = seeded.exec(
        select(AuditEntry.action, AuditEntry.contact_id, AuditEntry.milestone_id, AuditEntry.detail)
        .where(col(AuditEntry.action).in_(["approve", "reject"]))
        .order_by(col(AuditEntry.id))
    ).all()
    assert decisions == [
        ("approve", coordinator.id, approved_id, f"closeout={to_approve.id} reason="),
        ("reject", coordinator.id, rejected_id, f"closeout={to_reject.id} reason=缺少佐证材料"),
    ]
    told = seeded.exec(
        select(Notification.kind, Notification.contact_id, Notification.milestone_id)
        .where(col(Notification.kind).like("closeout_%"), Notification.contact_id == lead.id)
        .order_by(col(Notification.id))
    ).all()
    assert [contact for _, contact, _ in told] == [lead.id, lead.id]
    assert {milestone for _, _, milestone in told} == {approved_id, rejected_id}


def test_a_report_and_its_closeout_request_are_audited_with_what_was_reported(seeded: Session) -> None:
    lead = _join(seeded, ContactRole.contact, 2201)
    _join(seeded, ContactRole.coordinator, 2202)
    milestone_id = _led_milestones(seeded, lead)[0]
    report = _report(seeded, lead, milestone_id, 4)
    (request,) = _closeouts(seeded, milestone_id)
    entries = seeded.exec(
        select(AuditEntry)
        .where(col(AuditEntry.action).in_(["report", "closeout_request"]))
        .order_by(col(AuditEntry.id))
    ).all()
    at = NOW + dt.timedelta(minutes=4)
    assert [(e.action, e.contact_id, e.milestone_id, e.detail, e.at) for e in entries] == [
        ("report", lead.id, milestone_id, f"status=done percent=100 report={report.id}", at),
        ("closeout_request", lead.id, milestone_id, f"closeout={request.id}", at),
    ]


@pytest.mark.parametrize(
    ("percent", "note", "refusal"),
    [
        (0, "", None),
        (100, "", None),
        (101, "", "percent_range"),
        (-1, "", "percent_range"),
        (50, "完" * MAX_NOTE_LENGTH, None),
        (50, "完" * (MAX_NOTE_LENGTH + 1), "too_long"),
    ],
)
def test_the_service_keeps_percent_and_note_within_bounds(
    seeded: Session, percent: int, note: str, refusal: str | None
) -> None:
    """Behind the parser the service checks again: whatever calls it cannot store 101 % or an endless note."""
    lead = _join(seeded, ContactRole.contact, 2301)
    milestone_id = _led_milestones(seeded, lead)[0]

    def report() -> ProgressReport:
        return record_report(
            session=seeded,
            contact=lead,
            milestone_id=milestone_id,
            status=ReportStatus.on_track,
            percent=percent,
            note=note,
            now=NOW,
            tz=DEFAULT_TZ,
        ).report

    if refusal is None:
        stored = report()
        assert (stored.percent, len(stored.note)) == (percent, len(note))
        return
    with pytest.raises(InvalidInput) as refused:
        report()
    assert refused.value.reason == refusal
    assert seeded.exec(select(ProgressReport)).all() == []


def test_a_rejection_without_reason_or_too_long_and_a_second_decision_are_refused_by_name(
    seeded: Session,
) -> None:
    lead = _join(seeded, ContactRole.contact, 2401)
    coordinator = _join(seeded, ContactRole.coordinator, 2402)
    milestone_id = _led_milestones(seeded, lead)[0]
    _report(seeded, lead, milestone_id, 1)
    (request,) = _closeouts(seeded, milestone_id)

    def decide(approve: bool, reason: str) -> None:
        decide_closeout(
            session=seeded,
            coordinator=coordinator,
            closeout_id=request.id or 0,
            approve=approve,
            reason=reason,
            now=NOW,
            tz=DEFAULT_TZ,
        )

    for approve, reason, refusal in (
        (False, " ", "reason_required"),
        (False, "理" * (CLOSEOUT_REASON + 1), "too_long"),
    ):
        with pytest.raises(InvalidInput) as refused:
            decide(approve, reason)
        assert refused.value.reason == refusal
    decide(False, "理" * CLOSEOUT_REASON)  # exactly the limit is kept
    with pytest.raises(InvalidInput) as again:
        decide(True, "")
    assert again.value.reason == "already_decided"


def test_status_shows_the_report_before_an_undone_one_and_nothing_after_the_last(seeded: Session) -> None:
    """The milestone keeps a copy of its newest report for /status; an undo hands it back to the one before."""
    contact = _join(seeded, ContactRole.contact, 1001)
    milestone_id = _led_milestones(seeded, contact)[0]
    today = NOW.date()

    def shown() -> tuple[int | None, int | None]:
        (view,) = [v for v in milestone_views(session=seeded, today=today) if v.milestone_id == milestone_id]
        return view.latest_percent, view.latest_report_id

    reports = [
        record_report(
            session=seeded,
            contact=contact,
            milestone_id=milestone_id,
            status=ReportStatus.on_track,
            percent=percent,
            note="",
            now=NOW + dt.timedelta(minutes=minute),
            tz=DEFAULT_TZ,
        ).report
        for minute, percent in ((0, 30), (1, 60))
    ]
    assert shown() == (60, reports[1].id)
    for report, left in zip(reversed(reports), ((30, reports[0].id), (None, None)), strict=True):
        undo_report(
            session=seeded, contact=contact, report_id=report.id or 0, now=NOW + dt.timedelta(minutes=2)
        )
        assert shown() == left


def test_a_report_on_a_withdrawn_milestone_is_refused_and_nothing_is_saved(seeded: Session) -> None:
    contact = _join(seeded, ContactRole.contact, 1001)
    milestone_id = _led_milestones(seeded, contact)[0]
    milestone = seeded.get(Milestone, milestone_id)
    assert milestone is not None
    milestone.status = MilestoneStatus.withdrawn  # a reply to a reminder sent before a re-seed left it out
    seeded.add(milestone)
    seeded.commit()
    with pytest.raises(InvalidInput) as refused:
        _report(seeded, contact, milestone_id, 1, ReportStatus.on_track)
    assert refused.value.reason == "withdrawn"
    seeded.rollback()
    assert seeded.exec(select(ProgressReport)).all() == []
