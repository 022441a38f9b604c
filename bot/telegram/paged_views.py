"""Every answer that may run to several pages, built one way for the command and for its next/previous buttons.

A builder takes the argument the buttons carry (a number or a department id, never free text: callback data is
limited to 64 bytes) and re-runs the query, so a page always shows the database as it is now. `rt` is the channel's
runtime: now, today, the settings (their time zone) and the channel's words (bot/core/vocabulary.py).
"""

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from bot.telegram import views
from duban.services import access, invites, outbox, oversight, progress, tasks
from duban.services.digest import build_digest
from duban.services.errors import InvalidInput, NotAllowed
from models import CloseoutRequest, Contact, ContactRole, Milestone

Builder = Callable[[Session, Contact, Any, views.Gettext, str], list[str]]


def _number(arg: str) -> int:
    if not arg.isascii() or not arg.isdigit() or len(arg) > 9:
        raise InvalidInput("usage_task")
    return int(arg)


def _contact_only(contact: Contact) -> None:
    if contact.role != ContactRole.contact:
        raise NotAllowed(contact.role)


def tasks_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    _contact_only(contact)
    lines = tasks.open_task_lines(session=session, contact=contact, today=rt.today())
    if not lines:
        return [views.no_tasks(_)]
    return [views.tasks_header(_, rt.words), *views.task_lines(_, lines)]


def task_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    _contact_only(contact)
    line = tasks.line_by_number(session=session, contact=contact, number=_number(arg), today=rt.today())
    detail = tasks.task_detail(session=session, contact=contact, task_id=line.task_id, today=rt.today())
    return views.task_detail(_, detail, rt.settings.tz).split("\n")


def status_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    name = None
    if arg:
        name = oversight.department_by_id(session=session, reader=contact, department_id=_number(arg)).name
    return views.status_entries(
        _, oversight.status_for(session=session, reader=contact, today=rt.today(), department=name)
    )


def overdue_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    return views.overdue_entries(_, oversight.overdue(session=session, reader=contact, today=rt.today()))


def silent_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    return views.silent_entries(
        _, oversight.unanswered(session=session, reader=contact, now=rt.now(), today=rt.today())
    )


def dept_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    department = oversight.department_by_id(session=session, reader=contact, department_id=_number(arg))
    milestones = oversight.department_milestones(
        session=session, reader=contact, name=department.name, today=rt.today()
    )
    return views.milestone_entries(_, department.name, milestones)


def digest_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    return views.digest_entries(
        _, build_digest(session=session, reader=contact, now=rt.now(), today=rt.today())
    )


def pending_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    pairs: list[tuple[CloseoutRequest, Milestone]] = []
    for request in progress.pending_closeouts(session=session, coordinator=contact):
        milestone = session.get(Milestone, request.milestone_id)
        assert milestone is not None
        pairs.append((request, milestone))
    refused = outbox.undelivered_for(session=session, coordinator=contact)
    return views.pending_lines(_, pairs).split("\n") + views.undelivered_lines(_, refused, rt.settings.tz)


def contacts_view(session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    members = invites.county_members(session=session, coordinator=contact, now=rt.now())
    return views.member_entries(_, members, rt.words, rt.settings.tz)


VIEWS: dict[str, Builder] = {
    "tasks": tasks_view,
    "task": task_view,
    "status": status_view,
    "overdue": overdue_view,
    "silent": silent_view,
    "dept": dept_view,
    "digest": digest_view,
    "pending": pending_view,
    "contacts": contacts_view,
}
READER_VIEWS = {"status", "overdue", "silent", "dept", "digest"}


def entries(view: str, session: Session, contact: Contact, rt: Any, _: views.Gettext, arg: str) -> list[str]:
    """The entries of a view for this user; refuses views their role may not see."""
    if view in READER_VIEWS:
        access.require_reader(contact)
    builder = VIEWS.get(view)
    if builder is None:
        raise NotAllowed(view)
    return builder(session, contact, rt, _, arg)
