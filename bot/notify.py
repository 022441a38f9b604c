"""Messages to other people than the sender go through the outbox, then out at once."""

from collections.abc import Callable

from sqlmodel import Session
from telegram.ext import ContextTypes

from bot import views
from bot.i18n import gettext_for
from bot.runtime import runtime
from duban.services.outbox import enqueue
from models import Contact
from scheduler.dispatcher import dispatch_due


async def notify_contacts(
    context: ContextTypes.DEFAULT_TYPE,
    *,
    session: Session,
    recipients: list[Contact],
    key: str,
    kind: str,
    milestone_id: int | None,
    render: Callable[[views.Gettext], str],
) -> None:
    rt = runtime(context)
    queued: list[int] = []
    for contact in recipients:
        if contact.telegram_user_id is None:
            continue
        row = enqueue(
            session=session,
            key=f"{key}:c{contact.id}",
            kind=kind,
            contact=contact,
            text=render(gettext_for(contact.language)),
            due_at=rt.now(),
            milestone_id=milestone_id,
        )
        if row is not None and row.id is not None:
            queued.append(row.id)
    session.commit()
    # only what this action queued goes out now; everything else waits for the dispatcher job
    await dispatch_due(session=session, bot=context.bot, now=rt.now(), ids=queued)
