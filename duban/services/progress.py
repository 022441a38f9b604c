"""Progress reports, 销号 (close-out) requests and their approval; every change is audited."""

import datetime as dt
import enum
import math
import re
import unicodedata
from dataclasses import dataclass

from sqlmodel import Session, col, select

from duban.recurrence import current_instance
from duban.services import audit
from duban.services.access import (
    coordinators_for_plan,
    milestone_for_report,
    require_coordinator,
    visible_plan_ids,
)
from duban.services.errors import ApproverIsRequester, InvalidInput, NotFound
from duban.services.outbox import enqueue
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
from models.people import newest_first, person_of

MAX_NOTE_LENGTH = limits.NOTE
UNDO_WINDOW = dt.timedelta(minutes=10)

# "60%", "60％", "１００％" (NFKC makes the full-width forms ASCII), "-5%"; a dash after a digit is a range ("5-10%")
_PERCENT = re.compile(r"(?<![\d.])(-?)(\d+(?:\.\d+)?)\s*%")
_RANGE = re.compile(r"\d\s*%?\s*[-~至到]\s*\d+(?:\.\d+)?\s*%")  # "5-10%", "50%~60%": which one?
_CHINESE_DIGITS = dict(zip("一二两三四五六七八九十", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10), strict=True))
_TENTHS = re.compile(r"([一二两三四五六七八九])成")
# an exact share: 三分之一 is 33 (rounded down, as every percent), 一半 is 50; 过半, 大半 and 大部分 name no amount
_CHINESE_FRACTION = re.compile(r"([二两三四五六七八九十])分之([一二三四五六七八九])")
_CHINESE_PERCENT = re.compile(r"百分之([一二两三四五六七八九十零百]+)")  # 百分之六十, 百分之百
_HALF = re.compile(r"一半|(?<![过大多])半数")
# "1/3"; "6/30" and "3/5前" are dates
_DIGIT_FRACTION = re.compile(r"(?<![\d./])([1-9])\s*/\s*([2-9]|10)(?![\d./%前后日号])")
_LESS_THAN = ("不到", "不足", "未到", "未达", "没到", "不够", "少于", "低于", "近", "将近", "接近")
# the percent that says how far the work is, when a reply names more than one ("原计划100%，目前已完成60%")
_PROGRESS_MARKERS = ("已完成", "完成了", "完成", "目前", "现已", "已达", "达到", "进度")
_MARKER_REACH = 4  # characters between the marker and the number: "已完成约60%", "目前进度为60%"
_DONE_WORDS = ("已完成", "完成了", "已经完成", "全部完成", "已办结")
_DONE_WORD = re.compile("|".join(_DONE_WORDS))
_NOT_DONE_WORDS = ("未完成", "没完成", "没有完成", "尚未", "未全部", "未办结", "还没")
_BLOCKED_WORDS = ("受阻", "停滞", "无法推进")
_RISK_WORDS = ("风险", "滞后", "延期")
# 已完成 said of part of the work or of one step on the way, not of the milestone: "已完成招标", "一期已完成"
_PART_WORDS = re.compile(
    "|".join(
        (
            *(r"(?<!百)分之", _DIGIT_FRACTION.pattern, "一半", "半数", "过半", "大半", "多半"),  # a share
            *("部分", "基本", "大体", "大致", "初步"),  # part of it
            *("阶段", r"[一二三四五六七八九十\d首][期批]", r"第.{1,3}批"),  # a phase, a batch
            *("招标", "立项", "设计", "前期", "选址", "开工", "可研"),  # a step on the way
        )
    )
)
# what may follow 已完成 and still be the whole milestone: 已完成任务, 已完成全部工作, 已完成竣工验收
_WHOLE_OBJECT = re.compile(
    r"(?:本项|该项|此项|全部|所有|各项|全年|年度|本年度|既定|计划|目标)*"
    r"(?:目标任务|任务|工作|目标|建设任务|建设内容|工程|项目)?(?:的)?(?:(?:竣工|整体|最终|综合)?验收(?:工作)?)?"
)
_SENTENCE_BREAK = "，,。；;！!？?\n"  # a clause ends here
# and the words after 已完成 end here too: "已完成（验收报告已上传）", "已完成 见附件"
_PHRASE_END = re.compile(f"[{re.escape(_SENTENCE_BREAK)} \t:：()（）\\[\\]【】“”\"'‘’—…~～]")
_PARTICLES = "了啦啊呀哈嘞咯喽哦噢吧的"
# characters read either side of 已完成: longer than a clause, and a long text costs no more than a short one
_CLAIM_REACH = 40
_CLAUSES = re.compile(f"([{re.escape(_SENTENCE_BREAK)}]+)")
# a clause that says nothing but the percent: "完成60%", "目前进度为70%", "已完成70%以上", "已完成三分之一"
_PERCENT_WORDS = re.compile(
    "(?:{})*".format(
        "|".join(
            ("目前", "当前", "现在", "现已", "现", "总体", "整体", "累计", "已经", "已", "完成了", "完成")
            + ("进度", "进展", "为", "是", "达到", "已达", "达", "约", "大约", "估计", "有", "共", "了", ":")
        )
    )
)
_PERCENT_SUFFIX = re.compile("(?:左右|以上|多|余|上下|了)?")
_DONE_ONLY = re.compile(r"(?:已经?)?(?:全部)?(?:完成|办结)[了啦啊呀哈的]*")
_AMOUNT = re.compile(
    "|".join(
        p.pattern for p in (_PERCENT, _CHINESE_PERCENT, _TENTHS, _CHINESE_FRACTION, _HALF, _DIGIT_FRACTION)
    )
)


class _Claim(enum.Enum):
    """What one 已完成 claims: the whole milestone, a part or a step of it, or something the parser cannot place."""

    WHOLE = "whole"
    PART = "part"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class ParsedProgress:
    status: ReportStatus
    percent: int | None
    note: str


def _chinese_number(digits: str) -> int:
    """五十 is 50, 六十五 is 65, 百 and 一百 are 100, 一百五十 is 150 (refused as a percent above 100)."""
    total = pending = 0
    for character in digits:
        if character in ("十", "百"):
            total += (pending or 1) * (10 if character == "十" else 100)
            pending = 0
        else:
            pending = _CHINESE_DIGITS.get(character, 0)  # 零 is a place holder: 一百零五
    return total + pending


def _shares(text: str) -> list[tuple[int, float]]:
    """三分之一, 一半 and, after 完成/进度, 1/3: exact shares, as percents; 不到一半 names no lower bound."""
    found = []
    for match in _CHINESE_FRACTION.finditer(text):
        part, whole = _CHINESE_DIGITS[match.group(2)], _CHINESE_DIGITS[match.group(1)]
        if part < whole:
            found.append((match.start(), float(100 * part // whole)))
    found += [(m.start(), 50.0) for m in _HALF.finditer(text)]
    for match in _DIGIT_FRACTION.finditer(text):
        part, whole = int(match.group(1)), int(match.group(2))
        if part < whole and _after_marker(text, match.start()):
            found.append((match.start(), float(100 * part // whole)))
    return [(start, value) for start, value in found if not text[:start].endswith(_LESS_THAN)]


def _percents(text: str) -> list[tuple[int, float]]:
    """Every percent the text names, with where it starts; a negative one or one above 100 is refused."""
    found = []
    for match in _PERCENT.finditer(text):
        value = float(match.group(2))
        if match.group(1) or value > 100:
            raise InvalidInput("percent_range")
        found.append((match.start(), value))
    for match in _CHINESE_PERCENT.finditer(text):
        if _chinese_number(match.group(1)) > 100:
            raise InvalidInput("percent_range")
        found.append((match.start(), float(_chinese_number(match.group(1)))))
    found += [(m.start(), _CHINESE_DIGITS[m.group(1)] * 10.0) for m in _TENTHS.finditer(text)]
    return sorted(found + _shares(text))


def _after_marker(text: str, start: int) -> bool:
    before = text[max(0, start - _MARKER_REACH - 3) : start]
    return any(
        marker in before and len(before) - before.rindex(marker) - len(marker) <= _MARKER_REACH
        for marker in _PROGRESS_MARKERS
    )


def _progress_percent(text: str) -> tuple[float | None, bool]:
    """One percent: the only one named, or the only one that follows 已完成/目前/进度; otherwise ask (ambiguous).

    Also whether the text named other percents besides: then the note keeps the whole text, to read them in.
    """
    found = _percents(text)
    if _RANGE.search(text):
        raise InvalidInput("percent_ambiguous")
    values = {value for _, value in found}
    if len(values) <= 1:
        return (values.pop() if values else None), False
    marked = {value for start, value in found if _after_marker(text, start)}
    if len(marked) == 1:
        return marked.pop(), True
    raise InvalidInput("percent_ambiguous")


def _claim(text: str, start: int, end: int) -> _Claim:
    """Read the words around one 已完成 (text[start:end]), within its clause and _CLAIM_REACH either side."""
    reach = max(0, start - _CLAIM_REACH)
    subject = text[max(reach, *(text.rfind(c, reach, start) + 1 for c in _SENTENCE_BREAK)) : start]
    phrase_end = _PHRASE_END.search(text, end, end + _CLAIM_REACH)
    after = min(len(text), end + _CLAIM_REACH) if phrase_end is None else phrase_end.start()
    what = text[end:after].split("并")[0]  # 已完成并通过验收: 已完成 says it all
    finished = re.sub(r"\W", "", what).strip(_PARTICLES)
    if _PART_WORDS.search(subject) or _PART_WORDS.search(what):
        return _Claim.PART
    if not finished:
        return _Claim.WHOLE
    amount = _AMOUNT.match(what.lstrip("了约"))
    if amount is not None:  # 已完成100%, 已完成百分之百; 已完成60% says how much
        return _Claim.WHOLE if [value for _, value in _percents(amount.group())] == [100] else _Claim.PART
    return _Claim.WHOLE if _WHOLE_OBJECT.fullmatch(finished) else _Claim.UNCLEAR


def _says_done(text: str) -> bool:
    """已完成 of the whole milestone, not negated; 已完成 of something the parser cannot place is asked about."""
    if any(word in text for word in _NOT_DONE_WORDS):
        return False
    claims = {_claim(text, m.start(), m.end()) for m in _DONE_WORD.finditer(text)}
    if _Claim.UNCLEAR in claims and _Claim.WHOLE not in claims:
        raise InvalidInput("done_unclear")
    return _Claim.WHOLE in claims


def _names_only(clause: str, value: float) -> bool:
    """The clause says nothing but this percent, perhaps with 完成/目前/进度 before it and 以上/左右 after."""
    clause = "".join(unicodedata.normalize("NFKC", clause).split())
    found = _percents(clause)
    if len(found) != 1 or found[0][1] != value:
        return False
    start = found[0][0]
    amount = _AMOUNT.match(clause, start)
    return (
        amount is not None
        and _PERCENT_WORDS.fullmatch(clause[:start]) is not None
        and _PERCENT_SUFFIX.fullmatch(clause[amount.end() :]) is not None
    )


def _note(text: str, value: float | None) -> str:
    """The text without the clause that only names the percent; nothing when all it says is 已完成."""
    if value is not None:
        pieces = _CLAUSES.split(text)  # clause, break, clause, break, …, clause
        kept = [
            clause + brk
            for clause, brk in zip(pieces[::2], [*pieces[1::2], ""], strict=True)
            if not _names_only(clause, value)
        ]
        if len(kept) < len(pieces[::2]):
            text = "".join(kept).strip(_SENTENCE_BREAK + " \t:：、")
    bare = re.sub(r"\W", "", text)
    if _DONE_ONLY.fullmatch(bare) and any(word in bare for word in _DONE_WORDS):
        return ""
    return text


def parse_progress_text(text: str) -> ParsedProgress:
    """Read a free-text reply: a percent (60%, 60％, 六成, 三分之一, 一半), whether it says done, and the note.

    Only a plain 100% or 已完成 of the whole milestone with no lower percent is done: 99.5% is 99 (rounded down,
    never up to done), "原计划100%，目前已完成60%" is 60, and two percents with nothing to tell them apart are asked
    about. 已完成 of a part or a step (已完成一半, 已完成招标, 一期已完成) is progress; 已完成 of something else
    (已完成整改) is asked about. The note is the text without the clause that only names the percent.
    """
    text = storable(text).strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidInput("too_long")
    normalized = unicodedata.normalize("NFKC", text)
    value, several = _progress_percent(normalized)
    percent = None if value is None else math.floor(value)
    # "已完成60%" means 60% is done, not the whole milestone
    if percent in (None, 100) and _says_done(normalized):
        status, percent = ReportStatus.done, 100
    elif any(word in text for word in _BLOCKED_WORDS):
        status = ReportStatus.blocked
    elif any(word in text for word in _RISK_WORDS):
        status = ReportStatus.at_risk
    else:
        status = ReportStatus.on_track
    if percent is None and status != ReportStatus.done and not text:
        raise InvalidInput("empty")
    return ParsedProgress(status=status, percent=percent, note=text if several else _note(text, value))


@dataclass(frozen=True)
class ReportOutcome:
    report: ProgressReport
    milestone: Milestone
    closeout: CloseoutRequest | None
    due_on: dt.date  # the milestone's due date in force when reported (a recurring duty's current period)
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
    tz: dt.tzinfo,
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
    return ReportOutcome(
        report=report,
        milestone=milestone,
        closeout=closeout,
        due_on=current_instance(milestone, today=now.astimezone(tz).date())[1],
        notices=notices,
    )


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
    task: Task
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
    tz: dt.tzinfo,
) -> CloseoutDecision:
    require_coordinator(coordinator)
    reason = storable(reason)
    closeout = session.get(CloseoutRequest, closeout_id)
    if closeout is None:
        raise NotFound(str(closeout_id))
    requester = session.get(Contact, closeout.requested_by)
    assert requester is not None  # a foreign key
    if person_of(requester) == person_of(coordinator):
        # a contact made coordinator (a new row, by a new invitation) must not close out what they asked for
        raise ApproverIsRequester(str(closeout_id))
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
    notices = _queue_decision(session=session, closeout=closeout, requester=requester, now=now, tz=tz)
    session.commit()  # the decision and the requester's notice, together, before anyone is answered
    return CloseoutDecision(
        closeout=closeout, milestone=milestone, task=task, requester=requester, notices=notices
    )


def decision_by(*, session: Session, coordinator: Contact, closeout_id: int) -> CloseoutDecision | None:
    """A 销号 decision this coordinator made, as its confirmation shows it (the web's page after the form); None
    for a request they did not decide, so no address can make the page announce anything else."""
    closeout = session.get(CloseoutRequest, closeout_id)
    if closeout is None or closeout.decided_by != coordinator.id:
        return None
    milestone = session.get(Milestone, closeout.milestone_id)
    requester = session.get(Contact, closeout.requested_by)
    task = session.get(Task, milestone.task_id) if milestone is not None else None
    if milestone is None or requester is None or task is None:
        return None
    return CloseoutDecision(closeout=closeout, milestone=milestone, task=task, requester=requester)


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
