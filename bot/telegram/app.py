"""The one place that wires the bot: settings, Application, handlers (order matters), jobs, start and stop."""

import logging
from pathlib import Path
from typing import Any

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BasePersistence,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    filters,
)
from telegram.request import BaseRequest

from bot.i18n import gettext_for
from bot.telegram import handlers, views
from bot.telegram.edge import EdgeApplication
from bot.telegram.reminder_buttons import PATTERN as REMINDER_BUTTONS
from bot.telegram.reminder_buttons import reminder_button, reminder_command
from bot.telegram.report_flow import report_conversation
from bot.telegram.runtime import RUNTIME_KEY, Runtime
from duban.redaction import keep_out_of_logs
from models import ContactRole

log = logging.getLogger(__name__)

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE  # edited messages are ignored on purpose


def build_application(
    runtime: Runtime,
    *,
    token: str,
    base_url: str | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    persistence: BasePersistence | None = None,
    rate_limit: bool = True,
) -> Application:
    keep_out_of_logs(token)
    # Any: the rate limiter below changes the builder's bot type parameter
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        Application.builder().application_class(EdgeApplication).token(token).post_init(_post_init)
    )
    if base_url:
        builder = builder.base_url(f"{base_url.rstrip('/')}/bot").base_file_url(
            f"{base_url.rstrip('/')}/file/bot"
        )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if persistence is not None:
        builder = builder.persistence(persistence)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.bot_data[RUNTIME_KEY] = runtime
    register_handlers(application)
    return application


def conversation_persistence(path: Path) -> PicklePersistence:
    """Half-finished /report conversations survive a restart; bot_data holds the runtime and is not stored."""
    return PicklePersistence(
        filepath=path, store_data=PersistenceInput(bot_data=False, chat_data=False, callback_data=False)
    )


def register_handlers(application: Application) -> None:
    # The report conversation goes first: while a user is writing a note, their text belongs to it.
    application.add_handler(report_conversation())

    commands = {
        "start": handlers.start,
        "help": handlers.help_command,
        "tasks": handlers.tasks_command,
        "task": handlers.task_command,
        "find": handlers.find_command,
        "status": handlers.status_command,
        "overdue": handlers.overdue_command,
        "silent": handlers.silent_command,
        "dept": handlers.dept_command,
        "digest": handlers.digest_command,
        "pending": handlers.pending_command,
        "approve": handlers.approve_command,
        "reject": handlers.reject_command,
        "invite": handlers.invite_command,
        "snooze": handlers.snooze_command,
        "contacts": handlers.contacts_command,
        "revoke": handlers.revoke_command,
        "web": handlers.web_command,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, filters=PRIVATE))
    # what a reminder's buttons do, typed (a channel without buttons offers these commands)
    application.add_handler(CommandHandler(["ack", "ackall", "snz", "nc"], reminder_command, filters=PRIVATE))

    # replies to reminders: text is a progress report, a photo or document is evidence
    application.add_handler(
        MessageHandler(PRIVATE & filters.REPLY & filters.TEXT & ~filters.COMMAND, handlers.progress_reply)
    )
    application.add_handler(
        MessageHandler(
            PRIVATE & filters.REPLY & (filters.PHOTO | filters.Document.ALL), handlers.evidence_reply
        )
    )

    application.add_handler(CallbackQueryHandler(reminder_button, pattern=REMINDER_BUTTONS))
    application.add_handler(CallbackQueryHandler(handlers.page_callback, pattern=r"^pg:"))
    application.add_handler(CallbackQueryHandler(handlers.undo_callback, pattern=rf"^{handlers.UNDO_PREFIX}"))
    application.add_handler(CallbackQueryHandler(handlers.noop_callback, pattern=r"^noop$"))
    application.add_handler(CallbackQueryHandler(handlers.unknown_callback))

    # last: anything else in private chats; in groups only commands addressed to us, or replies to us
    application.add_handler(MessageHandler(PRIVATE & filters.COMMAND, handlers.unknown_command))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT, handlers.plain_text))
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS
            & filters.UpdateType.MESSAGE
            & (filters.Entity("mention") | filters.COMMAND),
            _group_if_addressed,
        )
    )
    application.add_error_handler(handlers.error_handler)


async def _group_if_addressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group we answer only a command or mention naming this bot."""
    message = update.effective_message
    if message is None or not message.text:
        return
    if f"@{context.bot.username}".lower() in message.text.lower():
        await handlers.group_message(update, context)


async def _post_init(application: Application) -> None:
    """Register commands per language; a Bot API server that lacks setMyCommands must not stop the bot."""
    for language_code, language in (("", "zh_CN"), ("en", "en")):
        _ = gettext_for(language)
        commands = [BotCommand(name, text[:256]) for name, text in views.commands_for(_, ContactRole.contact)]
        try:
            await application.bot.set_my_commands(commands, language_code=language_code or None)
        except TelegramError as error:
            log.warning("set_my_commands failed (%s); commands still work", error)
