"""Failures a user can cause; the bot turns each into a polite message in the user's language."""


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
