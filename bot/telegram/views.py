"""Pure rendering: domain values in, Telegram HTML out. Every piece of user text passes through escape()."""

import datetime as dt
from collections.abc import Callable, Sequence
from html import escape

from bot.core.labels import (
    contact_role_label,
    join_state,
    pace_label,
    person_name,
    recurrence_label,
    role_label,
    state_label,
    status_label,
)
from bot.core.vocabulary import Commands
from duban.services.digest import Digest
from duban.services.errors import NumberNoLongerOpen, NumberNotListed
from duban.services.invites import IssuedInvite, Member
from duban.services.missed_days import MissedDays
from duban.services.oversight import OverdueLine, Unanswered
from duban.services.progress import ReportOutcome
from duban.services.tasks import TaskDetail, TaskLine
from duban.status import Counts, MilestoneState, MilestoneView, Pace, StatusReport
from models import (
    CloseoutRequest,
    Contact,
    ContactRole,
    Milestone,
    MilestoneStatus,
    Notification,
    ProgressReport,
    Task,
)

Gettext = Callable[[str], str]


def pace_line(_: Gettext, now: dict[Pace, int], last_week: dict[Pace, int] | None = None) -> str:
    """Colour counts, with the change since last week where it is known."""
    cells = []
    for pace in (Pace.green, Pace.amber, Pace.red, Pace.grey):
        cell = f"{pace_label(_, pace)} {now.get(pace, 0)}"
        if last_week is not None:
            change = now.get(pace, 0) - last_week.get(pace, 0)
            cell += f" ({change:+d})" if change else ""
        cells.append(cell)
    return " · ".join(cells)


def not_joined(_: Gettext) -> str:
    return _(
        "Hello! This is duban, the work-plan reminder bot. You have not joined yet: please open the invitation "
        "link your education bureau sent you."
    )


def invite_invalid(_: Gettext) -> str:
    return _(
        "This invitation link is not valid: it may have expired or been used already. Please ask for a new one."
    )


def welcome(_: Gettext, department: str, role: ContactRole, words: Commands) -> str:
    """A person's role in the county (contact_role_label: 分管领导), never a task's role (role_label: 牵头)."""
    return _("Welcome! You are now the {role} for {department}. Send {help} to see what you can do.").format(
        role=contact_role_label(_, role), department=escape(department), help=words["help"]
    )


def help_text(_: Gettext, role: ContactRole) -> str:
    lines = [_("<b>What you can do</b>")]
    for command, description in commands_for(_, role):
        lines.append(f"/{command} — {escape(description)}")
    if role == ContactRole.contact:
        lines.append(_("You can also reply to any reminder with your progress, e.g. “完成60%，已开工”."))
    return "\n".join(lines)


def commands_for(_: Gettext, role: ContactRole) -> list[tuple[str, str]]:
    common = [("help", _("what I can do")), ("find", _("search tasks: /find keyword"))]
    if role == ContactRole.contact:
        return [
            ("tasks", _("your department's open milestones")),
            ("task", _("one task in full: /task N")),
            ("report", _("report progress step by step")),
            ("cancel", _("stop the current report")),
            *common,
        ]
    readers = [
        ("status", _("progress by plan and by year, or /status department")),
        ("overdue", _("overdue milestones")),
        ("silent", _("departments that have not answered their last reminder")),
        ("dept", _("one department's milestones: /dept name")),
        ("digest", _("this week's digest")),
        ("web", _("a link to the web dashboard (台账, 通报)")),
    ]
    if role == ContactRole.coordinator:
        return [
            *readers,
            ("pending", _("close-out requests waiting for you")),
            ("approve", _("approve a close-out: /approve N")),
            ("reject", _("reject a close-out: /reject N reason")),
            ("invite", _("invite someone: /invite department contact|coordinator|lead")),
            ("snooze", _("pause an overdue escalation: /snooze #N days reason")),
            ("contacts", _("everyone with access in your county, and unused invitations")),
            ("revoke", _("end someone's access or cancel their invitation: /revoke N")),
            *common,
        ]
    return [*readers, *common]


def unknown_command(_: Gettext, words: Commands) -> str:
    return _("Sorry, I don't know that command. Send {help} to see what you can do.").format(
        help=words["help"]
    )


def not_allowed(_: Gettext) -> str:
    return _("Sorry, that is not available to you.")


def approver_is_requester(_: Gettext) -> str:
    return _("You asked for this close-out yourself, so another coordinator must decide it.")


def not_found(_: Gettext) -> str:
    return _("I could not find that. Please check the number or name.")


# refusals only the Telegram bot gives: of a reply, of the /report steps, in a group
TELEGRAM_ONLY_REASONS = frozenset({"not_a_reply_to_reminder", "note_empty", "group", "reply_to_bundle"})


def invalid_input(_: Gettext, reason: str, words: Commands) -> str:
    """Why an input was refused, with the usage in the channel's words."""
    text = {
        "too_long": _(
            "That message is too long (over 2,000 characters). Please shorten it; nothing was saved."
        ),
        "percent_range": _("A percentage must be between 0 and 100. Nothing was saved."),
        "empty": _("That message has no progress in it. Please write a percentage or a short note."),
        "already_done": _("This milestone is already closed out; nothing was saved."),
        "withdrawn": _("This milestone was withdrawn from the plan; nothing was saved."),
        "already_decided": _("This close-out request has already been decided."),
        "reason_required": _("Please give a reason: {reject} N reason"),
        "usage_task": _("Please give the number from {tasks}, e.g. {task} 2"),
        "usage_find": _("Please give a keyword, e.g. {find} 午餐"),
        "usage_approve": _("Please give the request number, e.g. {approve} 3"),
        "usage_dept": _("Please give a department name, e.g. {dept} 区教体局"),
        "usage_invite": _("Usage: {invite} department contact|coordinator|lead"),
        "not_a_reply_to_reminder": _(
            "I could not tell which task this is about. Reply to a reminder, or use {report}."
        ),
        "group": _("Please talk to me in a private chat."),
        "note_empty": _("The note is empty. Please write a short note, or send /skip."),
        "snooze_days": _("You can snooze for 1, 3 or 7 days."),
        "usage_snooze": _("Usage: {snooze} N days reason (N from {overdue})"),
        "percent_ambiguous": _(
            "I found more than one percentage and cannot tell which is your progress. "
            "Please send it again with just one, e.g. “完成60%”. Nothing was saved."
        ),
        "done_unclear": _(
            "I cannot tell whether the whole milestone is done or one step of it. If it is all done, "
            "send “已完成” (a note may follow after a comma); if not, send how far it is, "
            "e.g. “完成60%，已完成招标”. Nothing was saved."
        ),
        "undo_too_late": _("This report can no longer be undone. Please send a new report instead."),
        "reason_too_long": _(
            "The reason is too long (over 500 characters). Please shorten it; nothing was saved."
        ),
        "usage_revoke": _("Please give the number from {contacts}, e.g. {revoke} 12"),
        "revoke_self": _("You cannot revoke your own access. Ask another coordinator."),
        "already_inactive": _("That person no longer has access."),
        "reply_to_bundle": _(
            "That reminder lists several items: tap “Report n” under it for the one you mean, or use {report}."
        ),
    }[reason]
    return text.format_map(words.words)


def task_lines(_: Gettext, lines: list[TaskLine]) -> list[str]:
    entries = []
    for line in lines:
        entries.append(
            _("{number}. [{role}] {ref} {title}\n    due {due}{recurrence} · {plan}").format(
                number=line.number,
                role=role_label(_, line.role),
                ref=escape(line.task_ref),
                title=escape(line.task_title),
                due=line.due_on.isoformat(),
                recurrence=recurrence_label(_, line.recurrence),
                plan=escape(line.plan_title),
            )
        )
    return entries


def number_not_listed(_: Gettext, error: NumberNotListed, list_command: str) -> str:
    """A task number the person was never shown: nothing is guessed, they are sent to the list."""
    return _(
        "Number {number} is not in any task list you were shown. Send {command} to see your open tasks and "
        "their numbers."
    ).format(number=error.number, command=list_command)


def number_no_longer_open(_: Gettext, error: NumberNoLongerOpen, list_command: str) -> str:
    """A number whose milestone is no longer open: named, so the person sees what they meant, and refused."""
    why = {
        "done": _("has been closed out (销号)"),
        "withdrawn": _("has been withdrawn from the plan"),
        "not_yours": _("is no longer your department's"),
    }[error.reason]
    return _(
        "Number {number} is {ref} {title} (due {due}), which {why}. Send {command} to see your open tasks."
    ).format(
        number=error.number,
        ref=escape(error.task_ref),
        title=escape(error.task_title),
        due=error.due_on.isoformat(),
        why=why,
        command=list_command,
    )


def no_tasks(_: Gettext) -> str:
    return _("Your department has no open milestones.")


def tasks_header(_: Gettext, words: Commands) -> str:
    return _("<b>Open milestones</b> (send {task} N for details)").format(task=words["task"])


def task_detail(_: Gettext, detail: TaskDetail, tz: dt.tzinfo) -> str:
    task = detail.task
    parts = [
        f"<b>{escape(task.ref)} {escape(task.title)}</b>",
        escape(task.plan.title),
        _("Lead: {names}").format(names=escape("、".join(detail.lead) or "—")),
        _("Co: {names}").format(names=escape("、".join(detail.co) or "—")),
        "",
        escape(task.text),
        "",
        _("<b>Milestones</b>"),
    ]
    for milestone, due in detail.milestones:
        # a withdrawn one is listed with its reports below, and said to be no longer the plan's
        withdrawn = _(" (withdrawn)") if milestone.status == MilestoneStatus.withdrawn else ""
        parts.append(
            f"· {due.isoformat()}{recurrence_label(_, milestone.recurrence)} {escape(milestone.target)}{withdrawn}"
        )
    if not detail.milestones:
        parts.append(_("(no dated milestone)"))
    parts.append(_("<b>Reports</b>"))
    parts.extend(report_line(_, r, tz) for r in detail.reports)
    if not detail.reports:
        parts.append(_("(none yet)"))
    return "\n".join(parts)


def report_line(_: Gettext, report: ProgressReport, tz: dt.tzinfo) -> str:
    percent = f" {report.percent}%" if report.percent is not None else ""
    note = f" — {escape(report.note)}" if report.note else ""
    evidence = _(" [evidence]") if report.evidence_file_id else ""
    return f"· {report.reported_at.astimezone(tz):%Y-%m-%d} {status_label(_, report.status)}{percent}{note}{evidence}"


def found_tasks(_: Gettext, keyword: str, tasks: list[Task]) -> str:
    if not tasks:
        return _("No task mentions “{keyword}”.").format(keyword=escape(keyword))
    lines = [_("Tasks mentioning “{keyword}”:").format(keyword=escape(keyword))]
    lines += [f"· {escape(t.plan.title)} {escape(t.ref)} {escape(t.title)}" for t in tasks]
    return "\n".join(lines)


def report_confirmation(_: Gettext, outcome: ReportOutcome, task: Task) -> str:
    report = outcome.report
    lines = [
        _("Saved for {ref} {title}:").format(ref=escape(task.ref), title=escape(task.title)),
        _("Milestone: due {due}{recurrence}").format(
            due=outcome.due_on.isoformat(), recurrence=recurrence_label(_, outcome.milestone.recurrence)
        ),
        _("Status: {status}").format(status=status_label(_, report.status)),
        _("Progress: {percent}").format(percent=f"{report.percent}%" if report.percent is not None else "—"),
        _("Note: {note}").format(note=escape(report.note) if report.note else "—"),
    ]
    if outcome.closeout is not None:
        lines.append(
            _("A close-out (销号) request was sent to the coordinators (request {id}).").format(
                id=outcome.closeout.id
            )
        )
    return "\n".join(lines)


def evidence_saved(_: Gettext, task: Task) -> str:
    return _("Evidence saved for {ref} {title}.").format(ref=escape(task.ref), title=escape(task.title))


def closeout_requested(
    _: Gettext, closeout: CloseoutRequest, task: Task, department: str, note: str, words: Commands
) -> str:
    return _(
        "Close-out request {id}: {department} reports {ref} {title} as done.\nNote: {note}\n"
        "Approve with {approve} {id} or reject with {reject} {id} reason."
    ).format(
        approve=words["approve"],
        reject=words["reject"],
        id=closeout.id,
        department=escape(department),
        ref=escape(task.ref),
        title=escape(task.title),
        note=escape(note) or "—",
    )


def closeout_decided_text(_: Gettext, closeout: CloseoutRequest, task: Task) -> str:
    if closeout.status == "approved":
        return _("Your close-out of {ref} {title} was approved. Thank you!").format(
            ref=escape(task.ref), title=escape(task.title)
        )
    return _("Your close-out of {ref} {title} was not approved: {reason}").format(
        ref=escape(task.ref), title=escape(task.title), reason=escape(closeout.reason or "")
    )


def pending_lines(_: Gettext, requests: list[tuple[CloseoutRequest, Milestone]]) -> str:
    if not requests:
        return _("No close-out requests are waiting.")
    lines = [_("<b>Close-out requests waiting</b>")]
    for request, milestone in requests:
        lines.append(f"{request.id}. {escape(milestone.task.ref)} {escape(milestone.task.title)}")
    return "\n".join(lines)


def undelivered_lines(_: Gettext, rows: "Sequence[tuple[Notification, str]]", tz: dt.tzinfo) -> list[str]:
    """Messages the platform refused as they were: never dropped silently, shown to the county's coordinators."""
    if not rows:
        return []
    lines = [_("<b>Messages that could not be delivered</b> (please tell the recipient another way)")]
    for row, name in rows:
        lines.append(
            _("· to {name}, due {day}: {error}").format(
                name=escape(name) or "—",
                day=row.due_at.astimezone(tz).date().isoformat(),
                error=escape((row.last_error or "").removeprefix("rejected: ")[:200]),
            )
        )
    return lines


def status_entries(_: Gettext, report: StatusReport) -> list[str]:
    def counts_line(label: str, counts: Counts) -> str:
        cells = " · ".join(f"{state_label(_, s)} {counts[s]}" for s in MilestoneState)
        return f"<b>{escape(label)}</b>: {counts.total} — {cells}"

    header = _("<b>Progress as of {day}</b>").format(day=report.today.isoformat())
    if report.department:
        header += " · " + escape(report.department)
    entries = [header, counts_line(_("All"), report.overall), pace_line(_, report.paces), _("<b>By plan</b>")]
    entries += [counts_line(title, counts) for title, counts in report.by_plan.items()]
    entries.append(_("<b>By year</b>"))
    entries += [counts_line(year, counts) for year, counts in report.by_year.items()]
    return entries


def overdue_entries(_: Gettext, lines: list[OverdueLine]) -> list[str]:
    if not lines:
        return [_("Nothing is overdue.")]
    return [_("<b>Overdue milestones</b>")] + [
        _("[#{id}] {ref} {title} — {departments}, due {due}, {days} days overdue").format(
            id=line.view.milestone_id,
            ref=escape(line.view.task_ref),
            title=escape(line.view.task_title),
            departments=escape("、".join(line.lead_departments) or "—"),
            due=line.view.due_on.isoformat(),
            days=line.days_overdue,
        )
        for line in lines
    ]


def silent_entries(_: Gettext, unanswered: Unanswered) -> list[str]:
    """The silent departments, then those no reminder reaches: "all have answered" only when both are empty."""
    if unanswered.silent:
        entries = [_("<b>Departments that have not answered</b>")] + [
            _("{department} — last reminder {day}, {days} days ago").format(
                department=escape(s.department), day=s.last_reminder_at.date().isoformat(), days=s.days_silent
            )
            for s in unanswered.silent
        ]
    elif unanswered.unreached:
        entries = [_("Every department that was sent a reminder has answered its last one.")]
    else:
        entries = [_("Every department has answered its last reminder.")]
    if unanswered.unreached:
        entries.append(
            _("<b>Departments not reached yet</b> (nobody has joined for them, so no reminder reaches them)")
        )
        entries += [
            _("{department} — {open} open milestones, {overdue} overdue").format(
                department=escape(u.department), open=u.open_milestones, overdue=u.overdue
            )
            for u in unanswered.unreached
        ]
    return entries


def milestone_entries(_: Gettext, name: str, views: list[MilestoneView]) -> list[str]:
    entries = [_("<b>{department}</b>").format(department=escape(name))]
    if not views:
        return [*entries, _("No milestones.")]
    for view in views:
        percent = f" {view.latest_percent}%" if view.latest_percent is not None else ""
        entries.append(
            f"{escape(view.task_ref)} {escape(view.task_title)} — {view.due_on.isoformat()}"
            f"{recurrence_label(_, view.recurrence)} {state_label(_, view.state)}{percent}"
        )
    return entries


def digest_entries(_: Gettext, digest: Digest) -> list[str]:
    entries = [
        _("<b>Weekly digest, {start} – {end}</b>").format(
            start=digest.week_start.isoformat(), end=digest.today.isoformat()
        )
    ]
    entries += [missed_days_line(_, gap) for gap in digest.missed]
    for plan in digest.plans:
        cells = " · ".join(f"{state_label(_, s)} {plan.counts[s]}" for s in MilestoneState)
        entries.append(
            f"<b>{escape(plan.plan_title)}</b>\n{cells}\n"
            + pace_line(_, plan.pace, plan.pace_last_week)
            + "\n"
            + _("Reports this week: {n}").format(n=plan.reports_this_week)
        )
        if plan.upcoming:
            entries.append(
                _("Due in the next 90 days:")
                + "\n"
                + "\n".join(
                    f"· {v.due_on.isoformat()} {escape(v.task_ref)} {escape(v.task_title)}"
                    for v in plan.upcoming
                )
            )
        if plan.overdue:
            entries.append(
                _("Overdue:")
                + "\n"
                + "\n".join(
                    _("· {ref} {title} — {departments}, {days} days").format(
                        ref=escape(o.view.task_ref),
                        title=escape(o.view.task_title),
                        departments=escape("、".join(o.lead_departments) or "—"),
                        days=o.days_overdue,
                    )
                    for o in plan.overdue
                )
            )
    entries += silent_entries(_, digest.silent)
    return entries


def missed_days_line(_: Gettext, gap: MissedDays) -> str:
    """A stop of the reminder planner, from its planning_gap row: why fewer reminders went out than the rules owe."""
    if gap.skipped:
        return _(
            "The system did not run from {first} to {last}; {n} reminders due in that time were not sent."
        ).format(first=gap.first_day.isoformat(), last=gap.last_day.isoformat(), n=gap.skipped)
    return _("The system did not run from {first} to {last}.").format(
        first=gap.first_day.isoformat(), last=gap.last_day.isoformat()
    )


def invite_created(
    _: Gettext, invite: IssuedInvite, bot_username: str, department: str, tz: dt.tzinfo
) -> str:
    return _("Invitation for {department} (valid until {until}):\n{link}").format(
        department=escape(department),
        until=invite.expires_at.astimezone(tz).date().isoformat(),
        link=escape(invite.link(bot_username)),
    )


# /report conversation
def report_pick_task(_: Gettext) -> str:
    return _("Which milestone are you reporting on?")


def report_pick_status(_: Gettext, task: Task) -> str:
    return _("{ref} {title}\nHow is it going?").format(ref=escape(task.ref), title=escape(task.title))


def report_pick_percent(_: Gettext) -> str:
    return _("How far along is it?")


def report_ask_note(_: Gettext) -> str:
    return _("Please write a short note (or send /skip).")


def report_cancelled(_: Gettext) -> str:
    return _("Cancelled; nothing was saved.")


def stale_button(_: Gettext) -> str:
    return _("This button is no longer valid; nothing was changed.")


def cancel_button(_: Gettext) -> str:
    return _("Cancel")


def skip_button(_: Gettext) -> str:
    return _("Skip")


def previous_button(_: Gettext) -> str:
    return _("« Previous")


def next_button(_: Gettext) -> str:
    return _("Next »")


def something_went_wrong(_: Gettext) -> str:
    return _("Sorry, something went wrong on our side. Nothing was lost; please try again in a minute.")


def ack_button(_: Gettext) -> str:
    return _("Received")


def report_button(_: Gettext) -> str:
    return _("Report progress")


def snooze_button(_: Gettext, days: int) -> str:
    return _("Remind me in {days} d").format(days=days)


def no_change_button(_: Gettext) -> str:
    return _("No change this month")


def acknowledged(_: Gettext) -> str:
    return _("Received, thank you (签收 recorded).")


def snoozed(_: Gettext, days: int) -> str:
    return _("I will remind you again in {days} days.").format(days=days)


def contact_blocked(_: Gettext, name: str, department: str) -> str:
    return _(
        "{name} ({department}) has blocked the bot and no longer receives reminders. Please invite a new contact."
    ).format(name=escape(name) or "—", department=escape(department))


def escalation_paused(_: Gettext, task: Task, until: dt.date) -> str:
    return _("Escalation for {ref} {title} paused until {until}.").format(
        ref=escape(task.ref), title=escape(task.title), until=until.isoformat()
    )


def undo_hint(_: Gettext, window: dt.timedelta) -> str:
    return _("Misread? Press Undo within {minutes} minutes.").format(
        minutes=int(window.total_seconds() // 60)
    )


def undo_button(_: Gettext) -> str:
    return _("↩️ Undo")


def report_undone(_: Gettext, report: ProgressReport) -> str:
    return _(
        "Report withdrawn ({status}, {percent}); nothing of it is kept. Send a new one when ready."
    ).format(
        status=status_label(_, report.status),
        percent=f"{report.percent}%" if report.percent is not None else "—",
    )


def member_entries(_: Gettext, members: Sequence[Member], words: Commands, tz: dt.tzinfo) -> list[str]:
    """/contacts: one line per person, named and with where they joined; the number is what /revoke takes."""
    if not members:
        return [_("Nobody has been invited yet.")]
    entries = [_("<b>People with access</b> (end access with {revoke} N)").format(revoke=words["revoke"])]
    for member in members:
        contact = member.contact
        entries.append(
            " · ".join(
                (
                    f"{contact.id}. {escape(member.department)}",
                    contact_role_label(_, contact.role),
                    escape(person_name(_, contact)),
                    join_state(_, member, tz),
                )
            )
        )
    return entries


def contact_revoked(_: Gettext, contact: Contact, department: str) -> str:
    return _("Access ended for {number}. {department} · {role}; any unused invitation is cancelled.").format(
        number=contact.id, department=escape(department), role=contact_role_label(_, contact.role)
    )
