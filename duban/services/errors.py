"""Failures a user can cause; the bot turns each into a polite message in the user's language."""

import datetime as dt


class DomainError(Exception):
    """Base: the request was refused and nothing was changed."""


class NotAllowed(DomainError):
    """The user may not see or change this (another department's task, another plan)."""


class NotFound(DomainError):
    pass


class InvalidInput(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a msgid from the catalogue


class InviteInvalid(DomainError):
    pass


class NumberNotListed(DomainError):
    """A task number the person was never shown in their 任务 list: it means nothing to them yet."""

    def __init__(self, number: int) -> None:
        super().__init__(str(number))
        self.number = number


class NumberNoLongerOpen(DomainError):
    """A task number the person was shown, whose milestone is closed out, withdrawn or no longer their
    department's: named back to them, so they see which one they meant, instead of landing on another."""

    def __init__(self, number: int, *, task_ref: str, task_title: str, due_on: dt.date, reason: str) -> None:
        super().__init__(str(number))
        self.number = number
        self.task_ref = task_ref
        self.task_title = task_title
        self.due_on = due_on
        self.reason = reason  # "done", "withdrawn" or "not_yours"


class ApproverIsRequester(NotAllowed):
    """The person deciding a 销号 asked for it themselves, under this row or an earlier one of theirs."""
