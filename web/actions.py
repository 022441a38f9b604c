"""What a coordinator does on the dashboard: decide a 销号 request, as /approve and /reject do in chat."""

import datetime as dt

from sqlalchemy import event
from sqlmodel import Session

from bot import views
from bot.i18n import gettext_for
from duban.services.outbox import enqueue
from duban.services.progress import CloseoutDecision, decide_closeout
from models import CloseoutRequest, CloseoutStatus, Contact, Milestone, Task


def decide(
    *, session: Session, coordinator: Contact, closeout_id: int, approve: bool, reason: str, now: dt.datetime
) -> CloseoutDecision:
    """The chat's decision (decide_closeout: the same checks, audit and change), and the contact's notice with
    the chat's text and outbox key, so a decision made in both places is announced once.

    The notice is added when decide_closeout commits (a before_commit hook), so the decision and its notice are
    written in one transaction: either both are stored or neither. The dispatcher sends it on its next run.
    """

    def queue_notice(_: Session) -> None:
        closeout = session.get(CloseoutRequest, closeout_id)
        if closeout is None or closeout.status == CloseoutStatus.pending:
            return  # nothing was decided in this commit
        requester = session.get(Contact, closeout.requested_by)
        milestone = session.get(Milestone, closeout.milestone_id)
        task = session.get(Task, milestone.task_id) if milestone else None
        if requester is None or milestone is None or task is None or requester.telegram_user_id is None:
            return
        decided = CloseoutDecision(closeout=closeout, milestone=milestone, requester=requester)
        enqueue(
            session=session,
            key=f"closeout:{closeout.id}:{closeout.status}:c{requester.id}",
            kind="closeout",
            contact=requester,
            text=views.closeout_decided_for_contact(gettext_for(requester.language), decided, task),
            due_at=now,
            milestone_id=milestone.id,
        )

    event.listen(session, "before_commit", queue_notice)
    try:
        return decide_closeout(
            session=session,
            coordinator=coordinator,
            closeout_id=closeout_id,
            approve=approve,
            reason=reason,
            now=now,
        )
    finally:
        event.remove(session, "before_commit", queue_notice)
