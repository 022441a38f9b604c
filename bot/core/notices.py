"""What an outbox message says: the rows of one bundle in, a platform-neutral Message out, in the reader's language.

Called at send time by every channel (Telegram, DingTalk), so the text reflects the database as it then stands
and a row never carries finished markup. Lines here are plain text; the channel escapes and splits them. The channel
passes the settings' time zone (days left and dates are the county's) and its words (bot/core/vocabulary.py), so a
notice teaches the commands its reader can type.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.core import labels
from bot.core.message import Action, Message, Section
from bot.core.vocabulary import Commands
from bot.i18n import gettext_for
from bot.robots.senders import robot_disabled_notice
from bot.telegram import views
from duban.chunks import in_parts
from duban.services.digest import build_digest
from duban.services.recipients import Because, who_must_hear
from duban.services.reminders import REMINDER_KINDS, SNOOZE_CHOICES, SNOOZE_MARK
from duban.status import overdue_recurring
from duban.workdays import is_working_day
from models import (
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    Department,
    GroupRobot,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    Recurrence,
    Task,
)
from scheduler.delivery import NothingToSay
from scheduler.digest_job import CHART_KIND, chart_rows
from scheduler.escalation import EscalationPolicy
from scheduler.lease import scheduler_down_at
from scheduler.outbox_planner import SEND_AT, send_moment
from scheduler.told import leaders_told

Gettext = views.Gettext
TONGBAO = EscalationPolicy()  # the 通报's title says 30 days, the policy's default


def bundle(session: Session, head: Notification) -> list[Notification]:
    """The rows that go out with `head` as one message (just `head` if it was never bundled)."""
    if head.bundle_id is None:
        return [head]
    rows = session.exec(
        select(Notification)
        .where(Notification.bundle_id == head.bundle_id, Notification.contact_id == head.contact_id)
        .where(col(Notification.sent_at).is_(None) | (Notification.id == head.id))
        .order_by(col(Notification.id))
    ).all()
    return list(rows) or [head]


def message_for(
    session: Session,
    head: Notification,
    rows: Sequence[Notification] | None = None,
    *,
    tz: dt.tzinfo,
    words: Commands,
) -> Message:
    """The message for `head`'s bundle, for its recipient; raises NothingToSay if nothing is left to tell.

    `rows` is the bundle as the dispatcher read it (head first); without it the bundle is read here. `tz` is the
    settings' time zone, `words` the recipient's channel's commands.
    """
    reader = session.get(Contact, head.contact_id) if head.contact_id else None
    _ = gettext_for(reader.language if reader else "zh_CN")
    rows = list(rows) if rows is not None else bundle(session, head)
    today = head.due_at.astimezone(tz).date()
    legacy = [row for row in rows if "legacy_text" in row.payload]
    current = [row for row in rows if "legacy_text" not in row.payload]
    if not current:
        return _legacy(_, head, legacy)
    render = RENDERERS.get(head.kind)
    if render is None:
        raise ValueError(f"no view for notification kind {head.kind!r}")
    message = render(
        Context(session=session, _=_, head=head, rows=current, today=today, reader=reader, tz=tz, words=words)
    )
    if legacy:  # rows queued before the upgrade travel along as they were written
        extra = tuple(Section(lines=tuple(plain(row.payload["legacy_text"]).split("\n"))) for row in legacy)
        message = Message(
            message.title, message.sections + extra, message.actions, message.image, message.footer
        )
    return message


@dataclass(frozen=True)
class Context:
    session: Session
    _: Gettext
    head: Notification
    rows: list[Notification]
    today: dt.date
    reader: Contact | None
    tz: dt.tzinfo
    words: Commands


def plain(markup: str) -> str:
    """Telegram HTML written before messages were structured, as the plain text it displayed."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


def _legacy(_: Gettext, head: Notification, rows: list[Notification]) -> Message:
    """Text queued before the upgrade, shown as it was written (its bold aside), with the buttons it had."""
    sections = tuple(Section(lines=tuple(plain(row.payload["legacy_text"]).split("\n"))) for row in rows)
    actions = _reminder_actions(_, head, [(row, None) for row in rows]) if head.kind in REMINDER_KINDS else ()
    return Message(title="", sections=sections, actions=actions)


# --- reminders, co-department notices and re-chases: one 督办提醒 listing every item -------------------------


@dataclass(frozen=True)
class Item:
    row: Notification
    milestone: Milestone
    task: Task
    plan: Plan
    report: ProgressReport | None  # the latest, for the pace line


# built once: every reminder the dispatcher sends runs it; the latest report is the one its milestone keeps a copy
# of (models/people.py), found by its id
_ITEM_FACTS = (
    select(Milestone, Task, Plan, ProgressReport)
    .join(Task, col(Task.id) == Milestone.task_id)
    .join(Plan, col(Plan.id) == Task.plan_id)
    .outerjoin(ProgressReport, col(ProgressReport.id) == Milestone.latest_report_id)
    .where(col(Milestone.id).in_(bindparam("milestones", expanding=True)))
)


def _items(ctx: Context, rows: Iterable[Notification]) -> list[Item]:
    """The milestones the rows are about, once each, with their latest reports, by plan, due date and task."""
    rows = [row for row in rows if row.milestone_id is not None]
    found = {
        milestone.id: (milestone, task, plan, report)
        for milestone, task, plan, report in ctx.session.execute(
            _ITEM_FACTS, {"milestones": list({row.milestone_id for row in rows})}
        ).all()
    }
    items: dict[tuple[int | None, dt.date | None], Item] = {}
    for row in rows:
        # a milestone closed out (or withdrawn) since the row was queued is reminded of no more
        if row.milestone_id in found and found[row.milestone_id][0].status == MilestoneStatus.open:
            items.setdefault((row.milestone_id, row.instance_due_on), Item(row, *found[row.milestone_id]))
    return sorted(
        items.values(),
        key=lambda i: (i.plan.key, i.row.instance_due_on or i.milestone.due_on, i.task.position, i.row.id),
    )


def _pace(_: Gettext, report: ProgressReport | None, tz: dt.tzinfo) -> str:
    if report is None:
        return _("no report yet")
    percent = f" {report.percent}%" if report.percent is not None else ""
    return _("last report {day}: {status}{percent}").format(
        day=report.reported_at.astimezone(tz).date().isoformat(),
        status=labels.status_label(_, report.status),
        percent=percent,
    )


def _still_unacknowledged(ctx: Context) -> list[Notification]:
    """A re-chase names only what nobody has acknowledged since it was planned."""
    originals = [row.payload.get("of") for row in ctx.rows]
    acknowledged = set(
        ctx.session.exec(
            select(Notification.id).where(
                col(Notification.id).in_([o for o in originals if o]),
                col(Notification.acknowledged_at).is_not(None),
            )
        ).all()
    )
    return [
        row for row in ctx.rows if row.acknowledged_at is None and row.payload.get("of") not in acknowledged
    ]


def reminder_bundle(ctx: Context) -> Message:
    _ = ctx._
    rows = _still_unacknowledged(ctx) if ctx.head.kind == "rechase" else ctx.rows
    items = _items(ctx, rows)
    if not items:
        raise NothingToSay("every item was acknowledged or closed before it was sent")
    title = {
        "reminder": _("⏰ Work-plan reminder (督办提醒)"),
        "co_notice": _("📌 For cooperating departments"),
        "rechase": _("🔁 Second reminder: not yet acknowledged"),
    }[ctx.head.kind]
    sections = []
    previous_plan = None
    for number, item in enumerate(items, start=1):
        due = item.row.instance_due_on or item.milestone.due_on
        recurrence = labels.recurrence_label(_, item.milestone.recurrence)
        if ctx.head.kind == "co_notice":
            when = _("due {due}{recurrence}: please send your input to the lead department").format(
                due=due.isoformat(), recurrence=recurrence
            )
        else:
            days_left = (due - ctx.today).days
            # a re-chase can fall after the due date (a reminder the day before, chased two working days later)
            when = (
                _("due {due}{recurrence}: {days} days left · {pace}")
                if days_left >= 0
                else _("due {due}{recurrence}: {days} days overdue · {pace}")
            ).format(
                due=due.isoformat(),
                recurrence=recurrence,
                days=abs(days_left),
                pace=_pace(_, item.report, ctx.tz),
            )
        lines = [f"{number}. {item.task.ref} {item.task.title}", f"   {when}"]
        if item.milestone.target:
            lines.append("   " + _("Target: {target}").format(target=item.milestone.target))
        if ctx.head.kind != "rechase" and (late := _why_late(ctx, item.row)):
            lines.append("   " + late)
        heading = item.plan.title if item.plan.key != previous_plan else None
        previous_plan = item.plan.key
        sections.append(Section(lines=tuple(lines), heading=heading))
    if len(items) == 1:
        footer = ctx.words.how_to_answer(_, views.report_button(_))
    else:
        footer = _("Tap “Report n” to report on item n, or “Acknowledge all”.")
    actions = _reminder_actions(_, ctx.head, [(i.row, i.milestone) for i in items])
    return Message(title=title, sections=tuple(sections), actions=actions, footer=footer)


def _why_late(ctx: Context, row: Notification) -> str | None:
    """Why a reminder goes out on a later day than its own, said only from rows that show it; None where it goes
    out on its day, where the reader asked for it later (延后), or where no row says why (a milestone moved, a
    task given to another department: nothing records that, so nothing is claimed).

    Its own day is the instance's due date less the row's days before, at 09:00 (scheduler/outbox_planner.py).
    The reasons, each from its row: the row is due at the first moment that day allowed, so only the day off
    held it (the working-day calendar); the reader joined after that moment (their contact row); the scheduler
    was stopped at that moment (the lease takeover that ended the stop, scheduler/lease.py).
    """
    _ = ctx._
    days_before = row.payload.get("days")
    if row.instance_due_on is None or not isinstance(days_before, int) or SNOOZE_MARK in row.idempotency_key:
        return None
    day = row.instance_due_on - dt.timedelta(days=days_before)
    if row.due_at.astimezone(ctx.tz).date() <= day:
        return None
    meant = dt.datetime.combine(day, SEND_AT, tzinfo=ctx.tz)
    if row.due_at <= send_moment(day, meant, ctx.tz):  # planned in time: the day off alone moved it
        if is_working_day(day):
            return None
        return _("(This was due on {day}, a day off: it waited for the next working day.)").format(
            day=day.isoformat()
        )
    joined = ctx.reader.joined_at if ctx.reader is not None else None
    if joined is not None and joined > meant:
        return _("(Sent late: this was due on {day}, before you joined on {joined}.)").format(
            day=day.isoformat(), joined=joined.astimezone(ctx.tz).date().isoformat()
        )
    if (down := scheduler_down_at(ctx.session, meant)) is not None:
        start, end = (moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M") for moment in down)
        return _(
            "(Sent late: this was due on {day}, while the service was stopped, from {start} to {end}.)"
        ).format(day=day.isoformat(), start=start, end=end)
    return None


def _reminder_actions(
    _: Gettext, head: Notification, items: list[tuple[Notification, Milestone | None]]
) -> tuple[Action, ...]:
    """签收 for the whole message; 汇报 and 本月无变化 per item; 延后 for the whole message."""
    single = len(items) == 1
    actions = [Action(views.ack_button(_) if single else _("Acknowledge all"), f"/ackall {head.id}")]
    for number, (row, milestone) in enumerate(items, start=1):
        if milestone is None and row.milestone_id is None:
            continue
        label = views.report_button(_) if single else _("Report {n}").format(n=number)
        actions.append(Action(label, f"/rep {row.id}"))
        if milestone is not None and milestone.recurrence == Recurrence.monthly:
            label = views.no_change_button(_) if single else _("{n}: no change").format(n=number)
            actions.append(Action(label, f"/nc {row.id}"))
    actions += [Action(views.snooze_button(_, d), f"/snz {head.id} {d}") for d in SNOOZE_CHOICES]
    return tuple(actions)


# --- the overdue ladder and the weekly 通报 ---------------------------------------------------------------------


def overdue_bundle(ctx: Context) -> Message:
    """The milestones still overdue when it goes out, each with what the rows say of its 催办."""
    _ = ctx._
    facts: dict[tuple[int, dt.date], dict[str, object]] = {}
    for row in ctx.rows:
        for fact in row.payload.get("items", []):
            key = (int(fact["m"]), dt.date.fromisoformat(str(fact["due"])))
            if key not in facts or int(fact["days"]) > int(facts[key]["days"]):  # type: ignore[call-overload]
                facts[key] = fact
    found = _tasks_of(ctx.session, [m for m, _due in facts])
    overdue = _still_overdue(ctx.session, ctx.today, set(facts))
    owed = {key: fact for key, fact in facts.items() if key in overdue}
    if not owed:
        raise NothingToSay("every milestone was closed out, withdrawn or paused before the notice was sent")
    role = ctx.reader.role if ctx.reader is not None else ContactRole.contact
    told = leaders_told(ctx.session, [row.id for row in ctx.rows if row.id is not None])
    # `urge` says the rung was one where the policy tells the leadership; whether anyone was told, only `told`
    # says. A coordinator learns where nobody could be, so that they can invite the department's leadership.
    untold = [key[0] for key, fact in owed.items() if fact.get("urge") and key not in told]
    no_leader = _without_a_leader(ctx.session, untold) if role == ContactRole.coordinator else set()
    sections = []
    for milestone_id, due in sorted(owed, key=lambda key: (found[key[0]][1].key, key[1])):
        task, plan, _milestone = found[milestone_id]
        line = _("· {ref} {title} ({plan}) was due on {due}: {days} days overdue").format(
            ref=task.ref, title=task.title, plan=plan.title, due=due.isoformat(), days=(ctx.today - due).days
        )
        if role == ContactRole.lead:  # the leadership hears of a milestone only from 催办 on
            line += _(" — 催办: please see that your department deals with it")
        elif (milestone_id, due) in told:
            line += _(" — 催办: the department's leadership has been informed")
        elif milestone_id in no_leader:
            line += _(" — the department's leadership was not told: none of it can be reached")
        sections.append(Section(lines=(line,)))
    return Message(title=_("⚠️ Overdue milestones"), sections=tuple(sections), footer=_overdue_footer(ctx))


def _overdue_footer(ctx: Context) -> str:
    """Only a command the reader's role may use, in their channel's words: a contact reports, a coordinator or a
    lead reads the list."""
    if ctx.reader is None or ctx.reader.role == ContactRole.contact:
        return ctx.words.how_to_report(ctx._)
    return ctx._("Send {command} for every overdue milestone.").format(command=ctx.words["overdue"])


def _still_overdue(
    session: Session, today: dt.date, pairs: set[tuple[int, dt.date]]
) -> set[tuple[int, dt.date]]:
    """Which (milestone, instance due date) are overdue today and not paused: a notice queued before a close-out,
    a withdrawal, a moved date or a /snooze says nothing of them when it goes out."""
    now = _overdue_now(session, today, [m for m, _due in pairs])
    return {(m, due) for m, due in pairs if now.get(m) == due}


def _overdue_now(session: Session, today: dt.date, milestone_ids: Iterable[int]) -> dict[int, dt.date]:
    """milestone -> the due date of its instance overdue today, of those overdue and not paused (the ladder's and
    the 通报's own rules, scheduler/escalation.py)."""
    ids = sorted(set(milestone_ids))
    milestones = {
        milestone.id: milestone
        for chunk in in_parts(ids)
        for milestone in session.exec(select(Milestone).where(col(Milestone.id).in_(chunk))).all()
        if milestone.status == MilestoneStatus.open
        and (milestone.escalation_paused_until is None or milestone.escalation_paused_until < today)
    }
    overdue = {
        milestone_id: milestone.due_on
        for milestone_id, milestone in milestones.items()
        if milestone_id is not None and milestone.recurrence == Recurrence.none and milestone.due_on < today
    }
    recurring = [
        m for m, milestone in milestones.items() if m is not None and milestone.recurrence != Recurrence.none
    ]
    if recurring:
        overdue.update(
            overdue_recurring(
                session=session, today=today, days_overdue=lambda days: days >= 1, milestone_ids=recurring
            )
        )
    return overdue


def _without_a_leader(session: Session, milestone_ids: list[int]) -> set[int]:
    """The milestones whose lead department has no leadership (a contact of role lead) a message can reach."""
    if not milestone_ids:
        return set()
    hearers = who_must_hear(session=session, milestone_ids=milestone_ids)
    return {m for m in milestone_ids if not any(why == Because.lead for _id, why in hearers.get(m, []))}


def _tasks_of(session: Session, milestone_ids: list[int]) -> dict[int, tuple[Task, Plan, Milestone]]:
    """The milestones that still exist (a removed plan's are gone), with their tasks and plans."""
    return {
        milestone.id: (task, plan, milestone)
        for milestone, task, plan in session.exec(
            select(Milestone, Task, Plan)
            .join(Task, col(Task.id) == Milestone.task_id)
            .join(Plan, col(Plan.id) == Task.plan_id)
            .where(col(Milestone.id).in_(milestone_ids))
        ).all()
        if milestone.id is not None
    }


def tongbao(ctx: Context) -> Message:
    _ = ctx._
    sections = []
    for row in ctx.rows:
        plan = ctx.session.get(Plan, row.payload.get("plan_id"))
        departments: dict[str, list[int]] = row.payload.get("departments", {})
        found = _tasks_of(ctx.session, [m for ids in departments.values() for m in ids])
        # a department is named only for milestones still overdue 30 days when the 通报 goes out: not closed out,
        # withdrawn, moved or paused since it was queued
        overdue = _overdue_now(ctx.session, ctx.today, found)
        lagging = {m for m, due in overdue.items() if (ctx.today - due).days >= TONGBAO.tongbao_after_days}
        named = {
            department: tuple(f"· {found[m][0].ref} {found[m][0].title}" for m in ids if m in lagging)
            for department, ids in sorted(departments.items())
        }
        if plan is None or not any(named.values()):
            continue
        sections.append(Section(lines=(plan.title,)))
        sections += [Section(lines=lines, heading=department) for department, lines in named.items() if lines]
    if not sections:
        raise NothingToSay(
            "the 通报's milestones were closed, withdrawn or paused, or its plan removed, since"
        )
    return Message(title=_("通报: milestones overdue 30 days or more"), sections=tuple(sections))


# --- one-paragraph notices: several of one kind due together are listed in one message -------------------------


def _paragraphs(ctx: Context, title: str, paragraph: Callable[[Notification], str | None]) -> Message:
    texts = [text for text in (paragraph(row) for row in ctx.rows) if text]
    if not texts:
        raise NothingToSay("what the notice was about no longer exists")
    if len(texts) == 1:
        first, _sep, rest = texts[0].partition("\n")
        return Message(title=first, sections=(Section(lines=tuple(rest.split("\n"))),) if rest else ())
    return Message(title=title, sections=tuple(Section(lines=tuple(t.split("\n"))) for t in texts))


def blocked(ctx: Context) -> Message:
    def paragraph(row: Notification) -> str | None:
        contact = ctx.session.get(Contact, row.payload.get("contact_id"))
        department = ctx.session.get(Department, contact.department_id) if contact else None
        if contact is None or department is None or contact.active:  # active again: no longer true
            return None
        return plain(views.contact_blocked(ctx._, contact.name, department.name))

    return _paragraphs(ctx, ctx._("Contacts who blocked the bot"), paragraph)


def closeout_requested(ctx: Context) -> Message:
    def paragraph(row: Notification) -> str | None:
        closeout = ctx.session.get(CloseoutRequest, row.payload.get("closeout_id"))
        if closeout is None or closeout.status != CloseoutStatus.pending:  # decided since: nothing to approve
            return None
        report = ctx.session.get(ProgressReport, closeout.report_id)
        requester = ctx.session.get(Contact, closeout.requested_by)
        department = ctx.session.get(Department, requester.department_id) if requester else None
        task = _task_of(ctx.session, closeout.milestone_id)
        note = report.note if report else ""
        return plain(
            views.closeout_requested(
                ctx._, closeout, task, department.name if department else "", note, ctx.words
            )
        )

    return _paragraphs(ctx, ctx._("Close-out requests (销号)"), paragraph)


def closeout_decided(ctx: Context) -> Message:
    def paragraph(row: Notification) -> str | None:
        closeout = ctx.session.get(CloseoutRequest, row.payload.get("closeout_id"))
        if closeout is None:
            return None
        task = _task_of(ctx.session, closeout.milestone_id)
        return plain(views.closeout_decided_text(ctx._, closeout, task))

    return _paragraphs(ctx, ctx._("Close-out decisions (销号)"), paragraph)


def _task_of(session: Session, milestone_id: int) -> Task:
    milestone = session.get(Milestone, milestone_id)
    assert milestone is not None  # milestones are never deleted
    return milestone.task


# --- the weekly digest for leads ----------------------------------------------------------------------------------


def digest(ctx: Context) -> Message:
    assert ctx.reader is not None
    today = dt.date.fromisoformat(ctx.head.payload["today"])
    entries = views.digest_entries(
        ctx._, build_digest(session=ctx.session, reader=ctx.reader, now=ctx.head.due_at, today=today)
    )
    first, *rest = [plain(entry) for entry in entries]
    return Message(title=first, sections=tuple(Section(lines=tuple(e.split("\n"))) for e in rest))


def digest_chart(ctx: Context) -> Message:
    """The chart is drawn when it is sent, from the database as it then stands."""
    from duban.chart import render_progress_chart  # pulls in matplotlib: only where a chart is drawn

    assert ctx.reader is not None
    today = dt.date.fromisoformat(ctx.head.payload["today"])
    caption = labels.chart_caption(ctx._, today)
    image = render_progress_chart(
        chart_rows(session=ctx.session, reader=ctx.reader, today=today), title=caption
    )
    return Message(title=caption, image=image)


def robot_disabled(ctx: Context) -> Message:
    """A group robot the platform refused was disabled; its coordinators are told (the latest reason)."""
    robot = ctx.session.get(GroupRobot, ctx.head.payload.get("robot_id"))
    if robot is None or robot.active:
        raise NothingToSay("the robot was removed, or works again, since")
    return robot_disabled_notice(ctx._, robot, robot.disabled_reason or "")


RENDERERS: dict[str, Callable[[Context], Message]] = {
    "reminder": reminder_bundle,
    "co_notice": reminder_bundle,
    "rechase": reminder_bundle,
    "overdue": overdue_bundle,
    "tongbao": tongbao,
    "blocked": blocked,
    "closeout_request": closeout_requested,
    "closeout_decided": closeout_decided,
    "digest": digest,
    CHART_KIND: digest_chart,
    "robot_disabled": robot_disabled,
}
