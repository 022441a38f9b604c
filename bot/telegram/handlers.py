"""Command and message handlers: parse the update, call a domain function, render a reply."""

import functools
import html
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlmodel import Session
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.core import labels
from bot.core.vocabulary import TELEGRAM
from bot.i18n import gettext_for, language_for
from bot.telegram import paged_views, views
from bot.telegram.notify import send_now
from bot.telegram.pages import page_markup, paginate
from bot.telegram.runtime import runtime
from duban.services import inbound, invites, oversight, progress, tasks
from duban.services.errors import (
    ApproverIsRequester,
    DomainError,
    InvalidInput,
    InviteInvalid,
    NotAllowed,
    NotFound,
    NumberNoLongerOpen,
    NumberNotListed,
)
from duban.services.inbound import AlreadyHandled
from duban.services.text import number_in
from duban.services.web_login import LOGIN_TTL, issue_login_link
from models import Contact, ContactRole, Department, Milestone, Task

log = logging.getLogger(__name__)
UNDO_PREFIX = "ud:"  # the 撤销 button under a report's confirmation: ud:<report id>

Handler = Callable[
    [Update, ContextTypes.DEFAULT_TYPE, Session, Contact, views.Gettext], Coroutine[Any, Any, None]
]
# what python-telegram-bot accepts as a callback: a coroutine function, not any awaitable
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def gettext_of(update: Update) -> views.Gettext:
    user = update.effective_user
    return gettext_for(language_for(user.language_code if user else None))


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML, **kwargs)


def member(
    *roles: ContactRole,
) -> Callable[[Handler], Callback]:
    """Only joined users get past this; a domain refusal becomes a polite message and changes nothing."""

    def decorate(handler: Handler) -> Callback:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            _ = gettext_of(update)
            user = update.effective_user
            if user is None:
                return
            # the update's id is stored with what the handler changes (bot/telegram/runtime.py)
            with runtime(context).session(update) as session:
                contact = invites.contact_for_user(session=session, telegram_user_id=user.id)
                if contact is None:
                    await reply(update, views.not_joined(_))
                    return
                if roles and contact.role not in roles:
                    await reply(update, views.not_allowed(_))
                    return
                try:
                    await handler(update, context, session, contact, _)
                except DomainError as error:
                    session.rollback()
                    if inbound.handled_elsewhere(session):  # its other delivery acted first: say nothing
                        return
                    await reply(update, refusal(_, error))

        return wrapper

    return decorate


def refusal(_: views.Gettext, error: DomainError) -> str:
    """A refusal on Telegram: usage lines teach /commands."""
    if isinstance(error, ApproverIsRequester):
        return views.approver_is_requester(_)
    if isinstance(error, NumberNotListed):
        return views.number_not_listed(_, error, TELEGRAM["tasks"])
    if isinstance(error, NumberNoLongerOpen):
        return views.number_no_longer_open(_, error, TELEGRAM["tasks"])
    if isinstance(error, InvalidInput):
        return views.invalid_input(_, error.reason, TELEGRAM)
    if isinstance(error, NotAllowed):
        return views.not_allowed(_)
    if isinstance(error, NotFound):
        return views.not_found(_)
    return views.not_allowed(_)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start TOKEN binds this Telegram user to the invited contact."""
    _ = gettext_of(update)
    user = update.effective_user
    rt = runtime(context)
    if user is None:
        return
    token = context.args[0] if context.args else ""
    with rt.session(update) as session:
        if not token:
            contact = invites.contact_for_user(session=session, telegram_user_id=user.id)
            await reply(update, views.help_text(_, contact.role) if contact else views.not_joined(_))
            return
        try:
            contact = invites.redeem_invite(
                session=session,
                token=token,
                telegram_user_id=user.id,
                language=language_for(user.language_code),
                now=rt.now(),
            )
        except InviteInvalid:
            if not inbound.handled_elsewhere(session):  # else its other delivery used the code: say nothing
                await reply(update, views.invite_invalid(_))
            return
        department = session.get(Department, contact.department_id)
        assert department is not None
        await reply(update, views.welcome(_, department.name, contact.role, TELEGRAM))
        await show_role_commands(context, chat_id=user.id, role=contact.role, _=_)


async def show_role_commands(
    context: ContextTypes.DEFAULT_TYPE, *, chat_id: int, role: ContactRole, _: views.Gettext
) -> None:
    """The command menu in this user's chat lists what their role can do; a failure here costs only the menu."""
    commands = [BotCommand(name, text[:256]) for name, text in views.commands_for(_, role)]
    try:
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
    except TelegramError as error:
        log.warning("could not set the command menu for chat %s: %s", chat_id, error)


@member()
async def help_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/help lists what this user's role can do."""
    await reply(update, views.help_text(_, contact.role))


@member(ContactRole.contact)
async def tasks_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/tasks: the department's open milestones, numbered."""
    await send_view(update, context, session, contact, _, "tasks")


@member(ContactRole.contact)
async def task_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/task N: one task in full, with its milestones and report history."""
    number = _single_int(context.args)
    if number is None:
        raise InvalidInput("usage_task")
    await send_view(update, context, session, contact, _, "task", str(number))


@member()
async def find_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/find keyword: search the tasks this user may see."""
    keyword = " ".join(context.args or []).strip()
    if not keyword:
        raise InvalidInput("usage_find")
    found = tasks.find_tasks(session=session, contact=contact, keyword=keyword)
    await reply(update, views.found_tasks(_, keyword, found))


@member(ContactRole.contact)
async def progress_reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """A text reply to a reminder is a progress report on that reminder's milestone."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    milestone_id = progress.milestone_for_reply(
        session=session, contact=contact, platform_message_id=str(message.reply_to_message.message_id)
    )
    if milestone_id is None:
        raise InvalidInput("not_a_reply_to_reminder")
    parsed = progress.parse_progress_text(message.text or "")
    await save_report(
        update, context, session, contact, _, milestone_id, parsed.status.value, parsed.percent, parsed.note
    )


async def save_report(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    session: Session,
    contact: Contact,
    _: views.Gettext,
    milestone_id: int,
    status: str,
    percent: int | None,
    note: str,
) -> None:
    from models import ReportStatus

    rt = runtime(context)
    outcome = progress.record_report(
        session=session,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus(status),
        percent=percent,
        note=note,
        now=rt.now(),
        tz=rt.settings.tz,
    )
    task = session.get(Task, outcome.milestone.task_id)
    assert task is not None
    text, undo = confirmation_with_undo(_, outcome, task)
    await send_now(context, outcome.notices)  # the report and its notices are committed already
    await reply(update, text, reply_markup=undo)


def confirmation_with_undo(
    _: views.Gettext, outcome: progress.ReportOutcome, task: Task
) -> tuple[str, InlineKeyboardMarkup]:
    """What was saved, on which milestone, with the 撤销 button for the undo window."""
    text = views.report_confirmation(_, outcome, task) + "\n" + views.undo_hint(_, progress.UNDO_WINDOW)
    undo = InlineKeyboardMarkup(
        [[InlineKeyboardButton(views.undo_button(_), callback_data=f"{UNDO_PREFIX}{outcome.report.id}")]]
    )
    return text, undo


@member(ContactRole.contact)
async def evidence_reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """A photo or document sent as a reply to a reminder is kept as evidence."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    milestone_id = progress.milestone_for_reply(
        session=session, contact=contact, platform_message_id=str(message.reply_to_message.message_id)
    )
    if milestone_id is None:
        raise InvalidInput("not_a_reply_to_reminder")
    file_id = (
        message.photo[-1].file_id if message.photo else message.document.file_id if message.document else None
    )
    if file_id is None:
        return
    report = progress.attach_evidence(
        session=session,
        contact=contact,
        milestone_id=milestone_id,
        file_id=file_id,
        now=runtime(context).now(),
    )
    milestone = session.get(Milestone, report.milestone_id)
    assert milestone is not None
    task = session.get(Task, milestone.task_id)
    assert task is not None
    await reply(update, views.evidence_saved(_, task))


@member(ContactRole.coordinator)
async def approve_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/approve N closes the milestone out."""
    await _decide(update, context, session, contact, _, approve=True)


@member(ContactRole.coordinator)
async def reject_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/reject N reason sends the request back with the reason."""
    await _decide(update, context, session, contact, _, approve=False)


async def _decide(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    session: Session,
    contact: Contact,
    _: views.Gettext,
    *,
    approve: bool,
) -> None:
    args = context.args or []
    number = _single_int(args[:1])
    if number is None:
        raise InvalidInput("usage_approve")
    decision = progress.decide_closeout(
        session=session,
        coordinator=contact,
        closeout_id=number,
        approve=approve,
        reason=" ".join(args[1:]),
        now=runtime(context).now(),
        tz=runtime(context).settings.tz,
    )
    text = labels.closeout_decided_for_coordinator(_, decision)
    await send_now(context, decision.notices)  # the decision and the contact's notice are committed already
    await reply(update, text)


@member(ContactRole.coordinator)
async def snooze_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/snooze #N days reason: pause the overdue escalation of milestone N."""
    args = context.args or []
    milestone_id = number_in(args[0].lstrip("#")) if args else None
    days = number_in(args[1]) if len(args) > 1 else None
    if len(args) < 3 or milestone_id is None or days is None:
        raise InvalidInput("usage_snooze")
    rt = runtime(context)
    milestone, until = oversight.pause_escalation(
        session=session,
        coordinator=contact,
        milestone_id=milestone_id,
        days=days,
        reason=" ".join(args[2:]),
        now=rt.now(),
        today=rt.today(),
    )
    task = session.get(Task, milestone.task_id)
    assert task is not None
    await reply(update, views.escalation_paused(_, task, until))


@member(ContactRole.coordinator)
async def pending_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/pending lists close-out requests waiting for a decision."""
    await send_view(update, context, session, contact, _, "pending")


@member(ContactRole.coordinator, ContactRole.lead)
async def status_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/status [department]: counts by plan and by year."""
    name = " ".join(context.args or []).strip()
    arg = str(oversight.department_for_reader(session=session, reader=contact, name=name).id) if name else ""
    await send_view(update, context, session, contact, _, "status", arg)


@member(ContactRole.coordinator, ContactRole.lead)
async def overdue_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/overdue: overdue milestones with lead department and days overdue."""
    await send_view(update, context, session, contact, _, "overdue")


@member(ContactRole.coordinator, ContactRole.lead)
async def silent_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/silent: departments that have not answered their last reminder."""
    await send_view(update, context, session, contact, _, "silent")


@member(ContactRole.coordinator, ContactRole.lead)
async def dept_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/dept NAME: one department's milestones and their state."""
    name = " ".join(context.args or []).strip()
    if not name:
        raise InvalidInput("usage_dept")
    department = oversight.department_for_reader(session=session, reader=contact, name=name)
    await send_view(update, context, session, contact, _, "dept", str(department.id))


@member(ContactRole.coordinator, ContactRole.lead)
async def digest_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/digest: the digest the weekly job sends."""
    await send_view(update, context, session, contact, _, "digest")


@member(ContactRole.coordinator)
async def invite_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/invite department role: a coordinator invites a colleague of their own county."""
    args = context.args or []
    if len(args) != 2 or args[1] not in {r.value for r in ContactRole}:
        raise InvalidInput("usage_invite")
    rt = runtime(context)
    own = session.get(Department, contact.department_id)
    assert own is not None
    department = invites.resolve_department(session=session, name=args[0], region=own.region)
    plan = contact.plan
    issued = invites.create_invite(
        session=session,
        department=department,
        role=ContactRole(args[1]),
        now=rt.now(),
        ttl=rt.settings.invite_ttl,
        plan=plan,
        invited_by=contact,
    )
    await reply(
        update, views.invite_created(_, issued, rt.settings.bot_username, department.name, rt.settings.tz)
    )


@member(ContactRole.coordinator, ContactRole.lead)
async def web_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/web: a single-use link to the web dashboard; no preview, so nothing fetches it before the user does."""
    rt = runtime(context)
    issued = issue_login_link(session=session, contact=contact, now=rt.now())
    minutes = int(LOGIN_TTL.total_seconds() // 60)
    text = _("Your link to the web dashboard, for you only, single use, valid {minutes} minutes:\n{link}")
    await reply(
        update,
        text.format(minutes=minutes, link=html.escape(issued.link(rt.settings.web_base_url))),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def send_view(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    session: Session,
    contact: Contact,
    _: views.Gettext,
    view: str,
    arg: str = "",
) -> None:
    """The first page of a view, with next/previous buttons when there are more."""
    pages = paginate(paged_views.entries(view, session, contact, runtime(context), _, arg))
    await reply(update, pages[0], reply_markup=page_markup(_, view, 0, len(pages), arg))


async def page_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Next/previous buttons re-run the query and show the asked page; a stale or forged button is refused."""
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    user = update.effective_user
    parts = (query.data or "").split(":", 3)
    view, page_text, arg = (parts + ["", "", "", ""])[1:4]
    page = number_in(page_text)
    rt = runtime(context)
    pages: list[str] = []
    with rt.session() as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is not None and page is not None:
            try:
                pages = paginate(paged_views.entries(view, session, contact, rt, _, arg))
            except DomainError:
                pages = []
    if page is None or not 0 <= page < len(pages):
        await query.answer(views.stale_button(_), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(
        pages[page], parse_mode=ParseMode.HTML, reply_markup=page_markup(_, view, page, len(pages), arg)
    )


async def noop_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The page counter button does nothing."""
    if update.callback_query:
        await update.callback_query.answer()


async def unknown_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A forged or outdated button: refuse politely, change nothing."""
    if update.callback_query:
        await update.callback_query.answer(views.stale_button(gettext_of(update)), show_alert=True)


@member()
async def unknown_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """Any command we do not have."""
    await reply(update, views.unknown_command(_, TELEGRAM))


@member()
async def plain_text(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """Text that is neither a command nor a reply to a reminder."""
    if contact.role == ContactRole.contact:
        await reply(update, views.invalid_input(_, "not_a_reply_to_reminder", TELEGRAM))
    else:
        await reply(update, views.help_text(_, contact.role))


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group, answer only when addressed, and only to say we talk in private."""
    await reply(update, views.invalid_input(gettext_of(update), "group", TELEGRAM))


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the user something polite; never crash the bot."""
    if isinstance(context.error, AlreadyHandled):  # another delivery of the update acted first: say nothing
        log.info("update acted on by its other delivery; this one's change was rolled back")
        return
    log.error("update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await reply(update, views.something_went_wrong(gettext_of(update)))
        except Exception:  # the apology itself may fail when Telegram is unreachable
            log.exception("could not send the apology")


def _single_int(args: list[str] | None) -> int | None:
    if not args or len(args) != 1:
        return None
    return number_in(args[0])


async def undo_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ud:N, the 撤销 button: the reporter takes report N back within a few minutes; anyone else is refused."""
    query = update.callback_query
    assert query is not None
    _ = gettext_of(update)
    user = update.effective_user
    report_id = number_in((query.data or "").removeprefix(UNDO_PREFIX))
    rt = runtime(context)
    with rt.session(update) as session:
        contact = invites.contact_for_user(session=session, telegram_user_id=user.id) if user else None
        if contact is None or report_id is None:
            await query.answer(views.stale_button(_), show_alert=True)
            return
        try:
            report = progress.undo_report(session=session, contact=contact, report_id=report_id, now=rt.now())
        except DomainError as error:
            session.rollback()
            if not inbound.handled_elsewhere(session):  # else its other delivery took the report back
                await query.answer(refusal(_, error), show_alert=True)
            return
    await query.answer()
    await query.edit_message_text(views.report_undone(_, report), parse_mode=ParseMode.HTML)


@member(ContactRole.coordinator)
async def contacts_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/contacts: everyone who can act for this county, numbered for /revoke; unused invites marked."""
    await send_view(update, context, session, contact, _, "contacts")


@member(ContactRole.coordinator)
async def revoke_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, session: Session, contact: Contact, _: views.Gettext
) -> None:
    """/revoke N: contact N (from /contacts) loses access with their next message; an unused invite dies."""
    number = _single_int(context.args)
    if number is None:
        raise InvalidInput("usage_revoke")
    revoked = invites.deactivate_contact(
        session=session, contact_id=number, now=runtime(context).now(), by=contact
    )
    department = session.get(Department, revoked.department_id)
    assert department is not None
    await reply(update, views.contact_revoked(_, revoked, department.name))
