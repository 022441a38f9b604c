"""The buttons under a reminder: 收到, 汇报进度 (opens /report at that milestone), 延后提醒, 无变化."""

from telegram import Update
from telegram.ext import ContextTypes

from bot import views
from bot.handlers import gettext_of, number_in, refusal
from bot.runtime import runtime
from duban.services import invites, reminders
from duban.services.errors import DomainError, InvalidInput
from models import Task


async def reminder_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """rm:ack:N, rm:snz:N:D and rm:nc:N; each re-checks that reminder N went to this user."""
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    parts = (query.data or "").split(":")
    rt = runtime(context)
    user = update.effective_user
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        notification_id = number_in(parts[2]) if len(parts) >= 3 else None
        days = number_in(parts[3]) if len(parts) == 4 else None
        if contact is None or notification_id is None:
            await query.answer(views.stale_button(_), show_alert=True)
            return
        try:
            if parts[1] == "ack":
                reminders.acknowledge(
                    session=session, contact=contact, notification_id=notification_id, now=rt.now()
                )
                await query.answer(views.acknowledged(_))
            elif parts[1] == "snz" and days is not None:
                reminders.snooze(
                    session=session,
                    contact=contact,
                    notification_id=notification_id,
                    days=days,
                    now=rt.now(),
                    tz=rt.settings.tz,
                )
                await query.answer(views.snoozed(_, days))
            elif parts[1] == "nc":
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
