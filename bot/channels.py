"""One Deliver for every channel: each outbox row goes out on its recipient's channel.

A contact row belongs to one channel (models.people.channel_of: the one whose id is set). The router asks that
channel's Deliver to render and send; a channel this process does not run (its settings are missing) is a
transient failure, so the row waits with backoff and is not lost while the operator adds the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlmodel import Session

from models import Contact, Notification
from models.people import channel_of
from scheduler.delivery import Deliver, RecipientUnreachable, TransientFailure

log = logging.getLogger(__name__)


class ChannelRouter:
    """The dispatcher's Deliver over the channels `duban run` started ("telegram", "dingtalk")."""

    def __init__(self, channels: Mapping[str, Deliver]) -> None:
        self.channels = dict(channels)

    async def __call__(self, session: Session, rows: Sequence[Notification]) -> str | None:
        head = rows[0]
        contact = session.get(Contact, head.contact_id) if head.contact_id else None
        channel = channel_of(contact) if contact is not None else None
        if channel is None:
            raise RecipientUnreachable(f"notification {head.id}: the recipient joined on no channel")
        deliver = self.channels.get(channel)
        if deliver is None:
            log.warning(
                "notification %s is for a %s contact, but this sender has no %s channel; it waits",
                head.id,
                channel,
                channel,
            )
            raise TransientFailure(f"the {channel} channel is not among this sender's")
        return await deliver(session, rows)
