"""The buttons under a reminder: 签收, 汇报 (opens /report at that item), 延后提醒, 本月无变化.

A button carries the command it stands for ("/ackall 42", "/snz 42 3", "/nc 43"); buttons on messages sent
before messages were bundled carry "rm:ack:N", "rm:snz:N:D" and "rm:nc:N" and keep working.
"""

from telegram import Update
from telegram.ext import ContextTypes

from bot import views
from bot.handlers import gettext_of, number_in, refusal
from bot.runtime import runtime
from duban.services import invites, reminders
from duban.services.errors import DomainError, InvalidInput
from models import Task

PATTERN = r"^(rm:(ack|snz|nc):|/(ack|ackall|snz|nc) )"


def parse(data: str) -> tuple[str, int | None, int | None]:
    """(verb, notification id, days) from either form of button data."""
    if data.startswith("rm:"):
        verb, *args = data.split(":")[1:]
    else:
        verb, *args = data.removeprefix("/").split()
    notification_id = number_in(args[0]) if args else None
    days = number_in(args[1]) if len(args) == 2 else None
    return verb, notification_id, days


async def reminder_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Each press re-checks that the reminder went to this user."""
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    verb, notification_id, days = parse(query.data or "")
    rt = runtime(context)
    user = update.effective_user
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None or notification_id is None:
            await query.answer(views.stale_button(_), show_alert=True)
            return
        try:
            if verb == "ack":
                reminders.acknowledge(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                await query.answer(views.acknowledged(_))
            elif verb == "ackall":
                reminders.acknowledge_all(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                await query.answer(views.acknowledged(_))
            elif verb == "snz" and days is not None:
                snooze = reminders.snooze_all if (query.data or "").startswith("/") else reminders.snooze
                snooze(
                    session=session,
                    contact=contact,
                    notification_id=notification_id,
                    days=days,
                    now=rt.now(),
                    tz=rt.settings.tz,
                )
                await query.answer(views.snoozed(_, days))
            elif verb == "nc":
                outcome = reminders.report_no_change(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                task = session.get(Task, outcome.milestone.task_id)
                assert task is not None
                await query.answer()
                # sent to the user's private chat: the button's own message may be too old or deleted to reply to
                await context.bot.send_message(
                    query.from_user.id,
                    views.report_confirmation(_, outcome, task),
                    parse_mode="HTML",
                )
            else:
                raise InvalidInput("stale")
        except DomainError as error:
            session.rollback()
            text = (
                views.stale_button(_)
                if isinstance(error, InvalidInput) and error.reason == "stale"
                else refusal(_, error)
            )
            await query.answer(text, show_alert=True)
