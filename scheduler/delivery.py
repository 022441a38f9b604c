"""What the dispatcher needs from a channel: one deliver callable, and the failures it may report.

The dispatcher knows no chat platform. The wiring gives it a `Deliver` that renders a notification for its
recipient's channel and sends it; each channel maps its own errors onto the four below, and the dispatcher alone
decides what a failure means for the outbox row (retry, give up and say so, mark the recipient unreachable).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlmodel import Session

from models import Notification


class DeliveryError(Exception):
    """A send did not happen; the subclass says why."""


class RetryLater(DeliveryError):
    """The platform asked us to wait (Telegram's RetryAfter, DingTalk's or WeCom's rate limit)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {seconds} s")
        self.seconds = seconds


class TransientFailure(DeliveryError):
    """Network trouble, a timeout, a 5xx: back off and try again."""


class RecipientUnreachable(DeliveryError):
    """The user blocked the bot or left the organisation; stop sending to them and tell a coordinator."""


class MessageRejected(DeliveryError):
    """The platform refuses this message as it is (a 400); retrying will not help. Logged, counted, shown."""


class NothingToSay(DeliveryError):
    """Everything the message was about was settled before it went out (acknowledged, closed): send nothing."""


# given the rows of one message (a bundle, its head first, as the dispatcher read them), renders and sends it;
# returns the platform's id of the (first) message sent, so replies to it can be mapped back
Deliver = Callable[[Session, Sequence[Notification]], Awaitable[str | None]]
