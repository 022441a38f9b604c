"""Inline keyboards that travel with outgoing reminders; their callback data carries only the notification id."""

from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import views
from bot.i18n import gettext_for
from duban.services.reminders import REMINDER_KINDS, SNOOZE_CHOICES
from models import Contact, Milestone, Notification, Recurrence


def reminder_markup(session: Session, notification: Notification) -> InlineKeyboardMarkup | None:
    if notification.kind not in REMINDER_KINDS or notification.contact_id is None:
        return None
    contact = session.get(Contact, notification.contact_id)
    _ = gettext_for(contact.language if contact else "zh_CN")
    n = notification.id
    rows = [
        [
            InlineKeyboardButton(views.ack_button(_), callback_data=f"rm:ack:{n}"),
            InlineKeyboardButton(views.report_button(_), callback_data=f"rm:rep:{n}"),
        ],
        [
            InlineKeyboardButton(views.snooze_button(_, d), callback_data=f"rm:snz:{n}:{d}")
            for d in SNOOZE_CHOICES
        ],
    ]
    milestone = session.get(Milestone, notification.milestone_id) if notification.milestone_id else None
    if milestone is not None and milestone.recurrence == Recurrence.monthly:
        rows.insert(0, [InlineKeyboardButton(views.no_change_button(_), callback_data=f"rm:nc:{n}")])
    return InlineKeyboardMarkup(rows)
