"""The buttons under a reminder: 签收, 汇报 (opens /report at that item), 延后提醒, 本月无变化.

A button carries the command it stands for ("/ackall 42", "/snz 42 3", "/nc 43"); buttons on messages sent
before messages were bundled carry "rm:ack:N", "rm:snz:N:D" and "rm:nc:N" and keep working.
"""

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.telegram import views
from bot.telegram.handlers import confirmation_with_undo, gettext_of, refusal
from bot.telegram.runtime import runtime
from duban.services import inbound, invites, reminders
from duban.services.errors import DomainError, InvalidInput
from duban.services.text import number_in
from models import Task

PATTERN = r"^(rm:(ack|snz|nc):|/(ack|ackall|snz|nc) )"


def parse(data: str) -> tuple[str, int | None, int | None]:
    """(verb, notification id, days) from either form of button data."""
    words = data.split(":")[1:] if data.startswith("rm:") else data.removeprefix("/").split()
    if not words:  # a callback without data (a forged one): no action, refused as a stale button
        return "", None, None
    verb, *args = words
    notification_id = number_in(args[0]) if args else None
    days = number_in(args[1]) if len(args) == 2 else None
    return verb, notification_id, days


async def reminder_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press: the answer pops up over the message (and a 本月无变化 confirmation comes as a message)."""
    query = update.callback_query
    assert query is not None
    acted = await _act(update, context, query.data or "")
    if acted is None:
        return
    answer, confirmation, alert = acted
    await query.answer(answer, show_alert=alert)
    if confirmation:
        # sent to the user's private chat: the button's own message may be too old or deleted to reply to
        text, markup = confirmation
        await context.bot.send_message(query.from_user.id, text, parse_mode="HTML", reply_markup=markup)


async def reminder_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The same actions typed: /ack N, /ackall N, /snz N D, /nc N (every button is also a command)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    acted = await _act(update, context, message.text.split("@")[0])
    if acted is None:
        return
    answer, confirmation, _alert = acted
    if confirmation:
        text, markup = confirmation
        await message.reply_text(text, parse_mode="HTML", reply_markup=markup)
    else:
        await message.reply_text(answer or "", parse_mode="HTML")


async def _act(
    update: Update, context: ContextTypes.DEFAULT_TYPE, data: str
) -> tuple[str | None, tuple[str, InlineKeyboardMarkup] | None, bool] | None:
    """(answer, confirmation message with its 撤销 button, whether the answer is a refusal); each action re-checks
    the reminder is theirs. None: another delivery of this update acted first, nothing is said."""
    _ = gettext_of(update)
    verb, notification_id, days = parse(data)
    rt = runtime(context)
    user = update.effective_user
    with rt.session(update) as session:  # the update's id is stored with the action (bot/telegram/runtime.py)
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None or notification_id is None:
            return views.stale_button(_), None, True
        try:
            if verb == "ack":
                reminders.acknowledge(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                return views.acknowledged(_), None, False
            if verb == "ackall":
                reminders.acknowledge_all(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                return views.acknowledged(_), None, False
            if verb == "snz" and days is not None:
                snooze = reminders.snooze_all if data.startswith("/") else reminders.snooze
                snooze(
                    session=session,
                    contact=contact,
                    notification_id=notification_id,
                    days=days,
                    now=rt.now(),
                    tz=rt.settings.tz,
                )
                return views.snoozed(_, days), None, False
            if verb == "nc":
                outcome = reminders.report_no_change(
                    session=session,
                    contact=contact,
                    notification_id=notification_id,
                    now=rt.now(),
                    tz=rt.settings.tz,
                )
                task = session.get(Task, outcome.milestone.task_id)
                assert task is not None
                return None, confirmation_with_undo(_, outcome, task), False
            raise InvalidInput("stale")
        except DomainError as error:
            session.rollback()
            if inbound.handled_elsewhere(session):
                return None
            text = (
                views.stale_button(_)
                if isinstance(error, InvalidInput) and error.reason == "stale"
                else refusal(_, error)
            )
            return text, None, True
