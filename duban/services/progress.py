"""Progress reports, 销号 (close-out) requests and their approval; every change is audited."""

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from sqlmodel import Session, col, select

from duban.services import audit
from duban.services.access import (
    coordinators_for_plan,
    milestone_for_report,
    require_coordinator,
    visible_plan_ids,
)
from duban.services.errors import InvalidInput, NotAllowed, NotFound
from duban.services.outbox import COUNTY_TZ, enqueue
from duban.services.text import storable
from models import (
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    ReportStatus,
    Task,
    limits,
)
from models.people import newest_first

MAX_NOTE_LENGTH = limits.NOTE
UNDO_WINDOW = dt.timedelta(minutes=10)

# "60%", "60％", "１００％" (NFKC makes the full-width forms ASCII), "-5%"; a dash after a digit is a range ("5-10%")
_PERCENT = re.compile(r"(?<![\d.])(-?)(\d+(?:\.\d+)?)\s*%")
_RANGE = re.compile(r"\d\s*%?\s*[-~至到]\s*\d+(?:\.\d+)?\s*%")  # "5-10%", "50%~60%": which one?
_CHINESE_TENTHS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_TENTHS = re.compile(r"([一二两三四五六七八九])成")
# the percent that says how far the work is, when a reply names more than one ("原计划100%，目前已完成60%")
_PROGRESS_MARKERS = ("已完成", "完成了", "完成", "目前", "现已", "已达", "达到", "进度")
_MARKER_REACH = 4  # characters between the marker and the number: "已完成约60%", "目前进度为60%"
_DONE_WORDS = ("已完成", "完成了", "已经完成", "全部完成", "已办结")
_NOT_DONE_WORDS = ("未完成", "没完成", "没有完成", "尚未", "未全部", "未办结", "还没")
_BLOCKED_WORDS = ("受阻", "停滞", "无法推进")
_RISK_WORDS = ("风险", "滞后", "延期")


@dataclass(frozen=True)
class ParsedProgress:
    status: ReportStatus
    percent: int | None
    note: str


def _percents(text: str) -> list[tuple[int, float]]:
    """Every percent the text names, with where it starts; a negative one or one above 100 is refused."""
    found = []
    for match in _PERCENT.finditer(text):
        value = float(match.group(2))
        if match.group(1) or value > 100:
            raise InvalidInput("percent_range")
        found.append((match.start(), value))
    found += [(m.start(), _CHINESE_TENTHS[m.group(1)] * 10.0) for m in _TENTHS.finditer(text)]
    return sorted(found)


def _after_marker(text: str, start: int) -> bool:
    before = text[max(0, start - _MARKER_REACH - 3) : start]
    return any(
        marker in before and len(before) - before.rindex(marker) - len(marker) <= _MARKER_REACH
        for marker in _PROGRESS_MARKERS
    )


def _progress_percent(text: str) -> float | None:
    """One percent: the only one named, or the only one that follows 已完成/目前/进度; otherwise ask (ambiguous)."""
    found = _percents(text)
    if _RANGE.search(text):
        raise InvalidInput("percent_ambiguous")
    values = {value for _, value in found}
    if len(values) <= 1:
        return values.pop() if values else None
    marked = {value for start, value in found if _after_marker(text, start)}
    if len(marked) == 1:
        return marked.pop()
    raise InvalidInput("percent_ambiguous")


def parse_progress_text(text: str) -> ParsedProgress:
    """Read a free-text reply: a percent (60%, 60％, 六成), 已完成-type words, the rest is the note.

    Only a plain 100% or 已完成 with no lower percent is done: 99.5% is 99 (rounded down, never up to done),
    "原计划100%，目前已完成60%" is 60, and two percents with nothing to tell them apart are asked about.
    """
    text = storable(text).strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidInput("too_long")
    value = _progress_percent(unicodedata.normalize("NFKC", text))
    percent = None if value is None else math.floor(value)
    says_done = any(word in text for word in _DONE_WORDS) and not any(w in text for w in _NOT_DONE_WORDS)
    # "已完成60%" means 60% is done, not the whole milestone
    if says_done and percent in (None, 100):
        status, percent = ReportStatus.done, 100
    elif any(word in text for word in _BLOCKED_WORDS):
        status = ReportStatus.blocked
    elif any(word in text for word in _RISK_WORDS):
        status = ReportStatus.at_risk
    else:
        status = ReportStatus.on_track
    if percent is None and status != ReportStatus.done and not text:
        raise InvalidInput("empty")
    return ParsedProgress(status=status, percent=percent, note=text)


@dataclass(frozen=True)
class ReportOutcome:
    report: ProgressReport
    milestone: Milestone
    closeout: CloseoutRequest | None
    notices: tuple[int, ...] = ()  # outbox rows this report queued (the 销号 request to coordinators)


def record_report(
    *,
    session: Session,
    contact: Contact,
    milestone_id: int,
    status: ReportStatus,
    percent: int | None,
    note: str,
    now: dt.datetime,
    evidence_file_id: str | None = None,
    tz: dt.tzinfo = COUNTY_TZ,
) -> ReportOutcome:
    note = storable(note)
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidInput("percent_range")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput("too_long")
    milestone, role = milestone_for_report(session=session, contact=contact, milestone_id=milestone_id)
    if milestone.status == MilestoneStatus.done:
        raise InvalidInput("already_done")
    if milestone.status == MilestoneStatus.withdrawn:  # the plan no longer has it (an old reminder's reply)
        raise InvalidInput("withdrawn")
    assert milestone.id is not None and contact.id is not None  # both are stored rows
    report = ProgressReport(
        milestone_id=milestone.id,
        contact_id=contact.id,
        status=status,
        percent=percent,
        note=note.strip(),
        evidence_file_id=evidence_file_id,
        reported_at=now,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        now=now,
        contact_id=contact.id,
        action="report",
        milestone_id=milestone.id,
        detail=f"status={status.value} percent={percent} report={report.id}",
    )
    closeout = None
    notices: tuple[int, ...] = ()
    if status == ReportStatus.done and role == DepartmentRole.lead:
        closeout = _open_closeout(
            session=session, milestone=milestone, report=report, contact=contact, now=now
        )
        notices = _queue_closeout_request(
            session=session, closeout=closeout, milestone=milestone, now=now, tz=tz
        )
    session.commit()  # the report, the request and the notices it owes, together
    return ReportOutcome(report=report, milestone=milestone, closeout=closeout, notices=notices)


def _queue_closeout_request(
    *, session: Session, closeout: CloseoutRequest, milestone: Milestone, now: dt.datetime, tz: dt.tzinfo
) -> tuple[int, ...]:
    """Every coordinator of the plan is told of the request; a refreshed request is not told twice."""
    task = session.get(Task, milestone.task_id)
    assert task is not None
    rows = [
        enqueue(
            session=session,
            key=f"closeout:{closeout.id}:requested:c{coordinator.id}",
            kind="closeout_request",
            contact=coordinator,
            payload={"closeout_id": closeout.id},
            due_at=now,
            tz=tz,
            milestone_id=milestone.id,
        )
        for coordinator in coordinators_for_plan(session=session, plan=task.plan)
    ]
    return tuple(row.id for row in rows if row is not None and row.id is not None)


def _queue_decision(
    *, session: Session, closeout: CloseoutRequest, requester: Contact, now: dt.datetime, tz: dt.tzinfo
) -> tuple[int, ...]:
    """The requester's department hears the decision (its current contact, if the requester was replaced)."""
    row = enqueue(
        session=session,
        key=f"closeout:{closeout.id}:{closeout.status}:c{requester.id}",
        kind="closeout_decided",
        contact=requester,
        payload={"closeout_id": closeout.id},
        due_at=now,
        tz=tz,
        milestone_id=closeout.milestone_id,
        for_department=requester.role == ContactRole.contact,
    )
    return (row.id,) if row is not None and row.id is not None else ()


def _open_closeout(
    *, session: Session, milestone: Milestone, report: ProgressReport, contact: Contact, now: dt.datetime
) -> CloseoutRequest:
    pending = session.exec(
        select(CloseoutRequest).where(
            CloseoutRequest.milestone_id == milestone.id, CloseoutRequest.status == CloseoutStatus.pending
        )
    ).first()
    if pending is not None:  # a second 已完成 refreshes the evidence, it does not queue a second request
        pending.report_id = report.id or pending.report_id
        session.add(pending)
        return pending
    assert milestone.id is not None and report.id is not None and contact.id is not None  # flushed rows
    closeout = CloseoutRequest(
        milestone_id=milestone.id, report_id=report.id, requested_by=contact.id, requested_at=now
    )
    session.add(closeout)
    session.flush()
    audit.record(
        session,
        now=now,
        contact_id=contact.id,
        action="closeout_request",
        milestone_id=milestone.id,
        detail=f"closeout={closeout.id}",
    )
    return closeout


def attach_evidence(
    *, session: Session, contact: Contact, milestone_id: int, file_id: str, now: dt.datetime
) -> ProgressReport:
    """A photo or document sent as a reply: kept on the sender's latest report, or on a new one."""
    milestone_for_report(session=session, contact=contact, milestone_id=milestone_id)
    latest = session.exec(
        select(ProgressReport)
        .where(ProgressReport.milestone_id == milestone_id, ProgressReport.contact_id == contact.id)
        .order_by(*newest_first())
    ).first()
    if latest is not None and latest.evidence_file_id is None:
        latest.evidence_file_id = file_id
        report = latest
    else:
        assert contact.id is not None  # a stored row
        report = ProgressReport(
            milestone_id=milestone_id,
            contact_id=contact.id,
            reported_at=now,
            evidence_file_id=file_id,
            status=latest.status if latest else ReportStatus.on_track,
            percent=latest.percent if latest else None,
            note=latest.note if latest else "",
        )
    session.add(report)
    session.flush()
    audit.record(
        session,
        now=now,
        contact_id=contact.id,
        action="evidence",
        milestone_id=milestone_id,
        detail=f"report={report.id}",
    )
    session.commit()
    return report


def milestone_for_reply(*, session: Session, contact: Contact, platform_message_id: str) -> int | None:
    """Map a reply back to its milestone through the message's stored platform id.

    A message listing several milestones names none: its reader picks one with the item's 汇报 button.
    """
    milestones = set(
        session.exec(
            select(Notification.milestone_id).where(
                Notification.contact_id == contact.id,
                Notification.platform_message_id == platform_message_id,
                col(Notification.milestone_id).is_not(None),
            )
        ).all()
    )
    if len(milestones) > 1:
        raise InvalidInput("reply_to_bundle")
    return milestones.pop() if milestones else None


@dataclass(frozen=True)
class CloseoutDecision:
    closeout: CloseoutRequest
    milestone: Milestone
    requester: Contact
    notices: tuple[int, ...] = ()  # outbox rows the decision queued (the requester's notice)


def decide_closeout(
    *,
    session: Session,
    coordinator: Contact,
    closeout_id: int,
    approve: bool,
    reason: str,
    now: dt.datetime,
    tz: dt.tzinfo = COUNTY_TZ,
) -> CloseoutDecision:
    require_coordinator(coordinator)
    reason = storable(reason)
    closeout = session.get(CloseoutRequest, closeout_id)
    if closeout is None:
        raise NotFound(str(closeout_id))
    if closeout.requested_by == coordinator.id:
        raise NotAllowed(
            "approver_is_requester"
        )  # a contact promoted mid-report must not close out their own
    milestone = session.get(Milestone, closeout.milestone_id)
    assert milestone is not None
    task = session.get(Task, milestone.task_id)
    assert task is not None
    if task.plan_id not in visible_plan_ids(session=session, contact=coordinator):
        raise NotFound(str(closeout_id))  # another county's request does not exist for this coordinator
    if closeout.status != CloseoutStatus.pending:
        raise InvalidInput("already_decided")
    if not approve and not reason.strip():
        raise InvalidInput("reason_required")
    if len(reason) > limits.CLOSEOUT_REASON:
        raise InvalidInput("too_long")
    closeout.status = CloseoutStatus.approved if approve else CloseoutStatus.rejected
    closeout.decided_by = coordinator.id
    closeout.decided_at = now
    closeout.reason = reason.strip() or None
    if approve:
        milestone.status = MilestoneStatus.done
        milestone.done_at = now
        session.add(milestone)
    session.add(closeout)
    audit.record(
        session,
        now=now,
        contact_id=coordinator.id,
        action="approve" if approve else "reject",
        milestone_id=milestone.id,
        detail=f"closeout={closeout.id} reason={reason.strip()}",
    )
    requester = session.get(Contact, closeout.requested_by)
    assert requester is not None
    notices = _queue_decision(session=session, closeout=closeout, requester=requester, now=now, tz=tz)
    session.commit()  # the decision and the requester's notice, together, before anyone is answered
    return CloseoutDecision(closeout=closeout, milestone=milestone, requester=requester, notices=notices)


def pending_closeouts(*, session: Session, coordinator: Contact) -> list[CloseoutRequest]:
    require_coordinator(coordinator)
    plan_ids = visible_plan_ids(session=session, contact=coordinator)
    return list(
        session.exec(
            select(CloseoutRequest)
            .join(Milestone, col(Milestone.id) == CloseoutRequest.milestone_id)
            .join(Task, col(Task.id) == Milestone.task_id)
            .where(CloseoutRequest.status == CloseoutStatus.pending, col(Task.plan_id).in_(plan_ids))
            .order_by(col(CloseoutRequest.id))
        ).all()
    )


def latest_report_since(*, session: Session, contact: Contact, since: dt.datetime) -> ProgressReport | None:
    """The contact's most recent report made after `since`: on a channel without replies (DingTalk), a
    picture sent soon after a report is that report's evidence."""
    return session.exec(
        select(ProgressReport)
        .where(ProgressReport.contact_id == contact.id, col(ProgressReport.reported_at) >= since)
        .order_by(*newest_first())
    ).first()


def undo_report(*, session: Session, contact: Contact, report_id: int, now: dt.datetime) -> ProgressReport:
    """The 撤销 button under a confirmation: the reporter takes a misread report back within UNDO_WINDOW.

    The 销号 request the report opened goes with it; one it only refreshed points back at the previous done
    report. A request already decided cannot be undone here.
    """
    report = session.get(ProgressReport, report_id)
    if report is None or report.contact_id != contact.id:
        raise NotFound(str(report_id))
    if now - report.reported_at > UNDO_WINDOW:
        raise InvalidInput("undo_too_late")
    for closeout in session.exec(select(CloseoutRequest).where(CloseoutRequest.report_id == report.id)).all():
        if closeout.status != CloseoutStatus.pending:
            raise InvalidInput("already_decided")
        previous = session.exec(
            select(ProgressReport.id)
            .where(
                ProgressReport.milestone_id == report.milestone_id,
                ProgressReport.status == ReportStatus.done,
                col(ProgressReport.id) < report.id,
            )
            .order_by(col(ProgressReport.id).desc())
        ).first()
        if closeout.requested_at < report.reported_at and previous is not None:
            closeout.report_id = previous
            session.add(closeout)
        else:
            audit.record(
                session,
                now=now,
                contact_id=contact.id,
                action="closeout_withdrawn",
                milestone_id=report.milestone_id,
                detail=f"closeout={closeout.id}",
            )
            session.delete(closeout)
    session.flush()
    audit.record(
        session,
        now=now,
        contact_id=contact.id,
        action="report_undone",
        milestone_id=report.milestone_id,
        detail=f"report={report.id} status={report.status} percent={report.percent}",
    )
    session.delete(report)
    session.commit()
    return report
