"""/report: pick a milestone, a status, a percent, write a note. Declared in one place, cancellable at every step.

Each button's data names the step and value; the server re-checks it against what the user may report on,
so a forged or stale button changes nothing. The conversation is persistent: a restart keeps the half-done report.
"""

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.core import labels
from bot.core.vocabulary import TELEGRAM
from bot.telegram import views
from bot.telegram.handlers import gettext_of, refusal, reply, save_report
from bot.telegram.runtime import runtime
from duban.services import access, inbound, invites, reminders, tasks
from duban.services.errors import DomainError
from duban.services.progress import MAX_NOTE_LENGTH
from duban.services.text import number_in
from models import ContactRole, ReportStatus, Task

PICK_TASK, PICK_STATUS, PICK_PERCENT, WRITE_NOTE = range(4)
PERCENT_CHOICES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
MAX_BUTTONS = 30


def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    """The half-done report; PTB types user_data as optional, but this conversation always has a user."""
    assert context.user_data is not None
    return context.user_data


def _cancel_row(_: views.Gettext) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(views.cancel_button(_), callback_data="rp:x")]


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/report: show the user's open milestones as buttons."""
    _ = gettext_of(update)
    rt = runtime(context)
    user = update.effective_user
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None:
            await reply(update, views.not_joined(_))
            return ConversationHandler.END
        if contact.role != ContactRole.contact:
            await reply(update, views.not_allowed(_))
            return ConversationHandler.END
        lines = tasks.open_task_lines(session=session, contact=contact, today=rt.today())
    if not lines:
        await reply(update, views.no_tasks(_))
        return ConversationHandler.END
    _draft(context).clear()
    buttons = [
        [
            InlineKeyboardButton(
                f"{line.number}. {line.task_ref} {line.task_title}"[:60],
                callback_data=f"rp:m:{line.milestone_id}",
            )
        ]
        for line in lines[:MAX_BUTTONS]
    ]
    await reply(
        update, views.report_pick_task(_), reply_markup=InlineKeyboardMarkup([*buttons, _cancel_row(_)])
    )
    return PICK_TASK


async def _checked_milestone(
    update: Update, context: ContextTypes.DEFAULT_TYPE, milestone_id: int
) -> Task | None:
    rt = runtime(context)
    user = update.effective_user
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None:
            return None
        try:
            milestone, _role = access.milestone_for_report(
                session=session, contact=contact, milestone_id=milestone_id
            )
        except DomainError:
            return None
        task = session.get(Task, milestone.task_id)
        if task is not None:
            session.expunge(task)
        return task


async def picked_task(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    milestone_id = number_in((query.data or "").removeprefix("rp:m:"))
    task = await _checked_milestone(update, context, milestone_id) if milestone_id is not None else None
    if task is None:
        await query.answer(views.stale_button(_), show_alert=True)
        return PICK_TASK
    _draft(context)["milestone_id"] = milestone_id
    await query.answer()
    await query.edit_message_text(
        views.report_pick_status(_, task), parse_mode=ParseMode.HTML, reply_markup=_status_keyboard(_)
    )
    return PICK_STATUS


async def begin_from_reminder(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The 汇报进度 button under a reminder: go straight to the status step for that reminder's milestone."""
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    notification_id = number_in(
        (query.data or "").removeprefix("rp:r:").removeprefix("rm:rep:").removeprefix("/rep ")
    )
    rt = runtime(context)
    user = update.effective_user
    milestone_id = None
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is not None and notification_id is not None:
            try:
                notification = reminders.own_reminder(
                    session=session, contact=contact, notification_id=notification_id
                )
                milestone_id = notification.milestone_id
            except DomainError:
                milestone_id = None
    task = await _checked_milestone(update, context, milestone_id) if milestone_id else None
    if task is None:
        await query.answer(views.stale_button(_), show_alert=True)
        return ConversationHandler.END
    _draft(context).clear()
    _draft(context)["milestone_id"] = milestone_id
    await query.answer()
    # sent to the user's private chat: the button's own message may be too old or deleted to reply to
    await context.bot.send_message(
        query.from_user.id,
        views.report_pick_status(_, task),
        parse_mode=ParseMode.HTML,
        reply_markup=_status_keyboard(_),
    )
    return PICK_STATUS


def _status_keyboard(_: views.Gettext) -> InlineKeyboardMarkup:
    status_buttons = [
        InlineKeyboardButton(labels.status_label(_, status.value), callback_data=f"rp:s:{status.value}")
        for status in ReportStatus
    ]
    return InlineKeyboardMarkup([status_buttons[:2], status_buttons[2:], _cancel_row(_)])


async def picked_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    value = (query.data or "").removeprefix("rp:s:")
    if value not in {s.value for s in ReportStatus} or "milestone_id" not in _draft(context):
        await query.answer(views.stale_button(_), show_alert=True)
        return PICK_STATUS
    _draft(context)["status"] = value
    await query.answer()
    buttons = [InlineKeyboardButton(f"{p}%", callback_data=f"rp:p:{p}") for p in PERCENT_CHOICES]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([InlineKeyboardButton(views.skip_button(_), callback_data="rp:p:-"), *_cancel_row(_)])
    await query.edit_message_text(views.report_pick_percent(_), reply_markup=InlineKeyboardMarkup(rows))
    return PICK_PERCENT


async def picked_percent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    value = (query.data or "").removeprefix("rp:p:")
    percent = number_in(value)
    valid = value == "-" or percent in PERCENT_CHOICES
    if not valid or "status" not in _draft(context):
        await query.answer(views.stale_button(_), show_alert=True)
        return PICK_PERCENT
    _draft(context)["percent"] = percent
    await query.answer()
    await query.edit_message_text(
        views.report_ask_note(_), reply_markup=InlineKeyboardMarkup([_cancel_row(_)])
    )
    return WRITE_NOTE


async def wrote_note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    message = update.effective_message
    assert message is not None
    _ = gettext_of(update)
    note = (message.text or "").strip()
    if message.text and message.text.strip() == "/skip":
        note = ""
    elif not note:
        await reply(update, views.invalid_input(_, "note_empty", TELEGRAM))
        return WRITE_NOTE
    if len(note) > MAX_NOTE_LENGTH:
        await reply(update, views.invalid_input(_, "too_long", TELEGRAM))
        return WRITE_NOTE
    return await _finish(update, context, note)


async def _finish(update: Update, context: ContextTypes.DEFAULT_TYPE, note: str) -> int:
    _ = gettext_of(update)
    draft = dict(context.user_data or {})
    rt = runtime(context)
    user = update.effective_user
    with rt.session(update) as session:  # the update's id is stored with the report (bot/telegram/runtime.py)
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None or "milestone_id" not in draft:
            await reply(update, views.stale_button(_))
            return ConversationHandler.END
        try:
            await save_report(
                update,
                context,
                session,
                contact,
                _,
                draft["milestone_id"],
                draft["status"],
                draft.get("percent"),
                note,
            )
        except DomainError as error:
            session.rollback()
            if not inbound.handled_elsewhere(session):  # else its other delivery saved the report
                await reply(update, refusal(_, error))
    _draft(context).clear()
    return ConversationHandler.END


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Cancel button or /cancel at any step: nothing is saved."""
    _ = gettext_of(update)
    _draft(context).clear()
    if update.callback_query:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(views.report_cancelled(_))
    else:
        await reply(update, views.report_cancelled(_))
    return ConversationHandler.END


async def stale_in_flow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """A button from another step, or a forged one: refuse and stay where we are."""
    if update.callback_query:
        await update.callback_query.answer(views.stale_button(gettext_of(update)), show_alert=True)
    return None


def report_conversation() -> ConversationHandler:
    private_text = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return ConversationHandler(
        entry_points=[
            CommandHandler("report", begin, filters=private_text),
            CallbackQueryHandler(begin_from_reminder, pattern=r"^(rm:rep:|/rep )"),
        ],
        states={
            PICK_TASK: [CallbackQueryHandler(picked_task, pattern=r"^rp:m:")],
            PICK_STATUS: [CallbackQueryHandler(picked_status, pattern=r"^rp:s:")],
            PICK_PERCENT: [CallbackQueryHandler(picked_percent, pattern=r"^rp:p:")],
            WRITE_NOTE: [
                CommandHandler("skip", wrote_note, filters=private_text),
                MessageHandler(private_text & filters.TEXT & ~filters.COMMAND, wrote_note),
            ],
        },
        fallbacks=[
            CallbackQueryHandler(cancel, pattern=r"^rp:x$"),
            CommandHandler("cancel", cancel, filters=private_text),
            CallbackQueryHandler(stale_in_flow, pattern=r"^rp:"),
        ],
        name="report",
        persistent=True,
        allow_reentry=True,
    )
