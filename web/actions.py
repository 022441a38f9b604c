"""What a coordinator does on the dashboard: decide a 销号 request, as /approve and /reject do in chat."""

import datetime as dt

from sqlmodel import Session

from bot import views
from bot.i18n import gettext_for
from duban.services.outbox import enqueue
from duban.services.progress import CloseoutDecision, decide_closeout
from models import Contact, Task


def decide(
    *, session: Session, coordinator: Contact, closeout_id: int, approve: bool, reason: str, now: dt.datetime
) -> CloseoutDecision:
    """The chat's decision, then the contact's notice, with the chat's text and outbox key (so a decision made
    in both places is announced once); the dispatcher sends it on its next run."""
    decision = decide_closeout(
        session=session,
        coordinator=coordinator,
        closeout_id=closeout_id,
        approve=approve,
        reason=reason,
        now=now,
    )
    requester = decision.requester
    task = session.get(Task, decision.milestone.task_id)
    assert task is not None
    if requester.telegram_user_id is not None:
        enqueue(
            session=session,
            key=f"closeout:{decision.closeout.id}:{decision.closeout.status}:c{requester.id}",
            kind="closeout",
            contact=requester,
            text=views.closeout_decided_for_contact(gettext_for(requester.language), decision, task),
            due_at=now,
            milestone_id=decision.milestone.id,
        )
    session.commit()
    return decision
