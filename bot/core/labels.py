"""Labels in the user's language for domain values (a status, a pace, a role, a person, where they joined), with no
platform's markup: the chat views on every channel and the dashboard (web/) all name things with these.

`closeout_decided_for_coordinator` escapes the plan's texts for HTML, which the Telegram views and the dashboard both
show (the DingTalk commands strip the markup, as they do the views').
"""

import datetime as dt
from collections.abc import Callable
from html import escape

from duban.services.invites import Member
from duban.services.progress import CloseoutDecision
from duban.status import MilestoneState, Pace
from models import Contact, ContactRole
from models.people import channel_of

Gettext = Callable[[str], str]


def status_label(_: Gettext, status: str) -> str:
    return {
        "on_track": _("On track"),
        "at_risk": _("At risk"),
        "blocked": _("Blocked"),
        "done": _("Done"),
    }[status]


def pace_label(_: Gettext, pace: Pace) -> str:
    return {
        Pace.done: _("closed"),
        Pace.green: _("🟢 on pace"),
        Pace.amber: _("🟡 behind"),
        Pace.red: _("🔴 overdue/blocked"),
        Pace.grey: _("⚪ no report"),
    }[pace]


def state_label(_: Gettext, state: MilestoneState) -> str:
    return {
        MilestoneState.done: _("Closed"),
        MilestoneState.reported: _("Reported"),
        MilestoneState.silent: _("No report"),
        MilestoneState.overdue: _("Overdue"),
    }[state]


def recurrence_label(_: Gettext, recurrence: str) -> str:
    return {"none": "", "yearly": _("(yearly)"), "semester": _("(each semester)"), "monthly": _("(monthly)")}[
        recurrence
    ]


def role_label(_: Gettext, role: str) -> str:
    return {"lead": _("lead"), "co": _("co")}[role]


def closeout_decided_for_coordinator(_: Gettext, decision: CloseoutDecision) -> str:
    """The coordinator's confirmation names the milestone decided, so a mistyped number shows at once."""
    named = {
        "id": decision.closeout.id,
        "ref": escape(decision.task.ref),
        "title": escape(decision.task.title),
        "due": decision.milestone.due_on.isoformat(),
    }
    if decision.closeout.status == "approved":
        return _("Request {id} ({ref} {title}, due {due}) approved; the milestone is closed out.").format(
            **named
        )
    # the decision queued the contact's notice in its own transaction (chat sends it before this reply; the web
    # leaves it to the dispatcher): told is not yet proven, will be is
    return _("Request {id} ({ref} {title}, due {due}) rejected; the contact will be told.").format(**named)


def chart_caption(_: Gettext, today: dt.date) -> str:
    return _("Progress by lead department, as of {day}").format(day=today.isoformat())


def contact_role_label(_: Gettext, role: ContactRole) -> str:
    return {
        ContactRole.contact: _("contact"),
        ContactRole.coordinator: _("coordinator"),
        ContactRole.lead: _("leader"),
    }[ContactRole(role)]


def channel_label(_: Gettext, channel: str) -> str:
    return {"telegram": _("Telegram"), "dingtalk": _("DingTalk")}[channel]


def account_hint(contact: Contact) -> str:
    """The end of the account's id on its channel: enough to tell two people of one department apart."""
    account = contact.dingtalk_user_id if channel_of(contact) == "dingtalk" else contact.telegram_user_id
    return f"…{str(account)[-4:]}"


def person_name(_: Gettext, contact: Contact) -> str:
    return contact.name or _("no name given")


def join_state(_: Gettext, member: Member, tz: dt.tzinfo) -> str:
    """Joined on which channel (Telegram or DingTalk, with the account's end), invited, or neither."""
    channel = channel_of(member.contact)
    if channel is not None:
        return _("joined on {channel} ({account})").format(
            channel=channel_label(_, channel), account=account_hint(member.contact)
        )
    if member.open_invite is not None:
        return _("invited, not joined (until {day})").format(
            day=member.open_invite.expires_at.astimezone(tz).date().isoformat()
        )
    return _("not joined")
