"""The DingTalk channel: sending a core Message to a person, and answering what people send the robot.

`deliver_to_dingtalk(user_id, message)` sends one core Message to one person and raises the delivery errors of
scheduler/delivery.py; `dingtalk_deliver(...)` wraps it as the dispatcher's Deliver for outbox rows. `RobotConversation` is the Stream receiver's
handler: a person's text goes through the platform-neutral command core, and its answers come back here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlmodel import Session

from bot.core.commands import CommandCore, Sender
from bot.core.message import Message
from bot.core.notices import message_for
from bot.core.vocabulary import DINGTALK
from bot.dingtalk.api import DingTalkApi
from bot.dingtalk.pacing import DingTalkPacer
from bot.dingtalk.render import IMAGE_KEY, render
from bot.dingtalk.stream import IncomingMessage
from models import Contact, Notification
from scheduler.delivery import Deliver, DeliveryError, RecipientUnreachable

log = logging.getLogger(__name__)


def evidence_ref(download_code: str) -> str:
    """What a report keeps of a DingTalk picture or file: its download code (the file stays with DingTalk).

    The column holds 200 characters; a longer code is kept as its SHA-256, which still tells files apart.
    """
    ref = f"dingtalk:{download_code}"
    return ref if len(ref) <= 200 else f"dingtalk-sha256:{hashlib.sha256(download_code.encode()).hexdigest()}"


class DingTalkSender:
    """Sends core Messages to people as one-to-one robot messages, each part paced for its person.

    One sender (and so one pacer) serves the dispatcher and the answers to what people type, so a reply and a
    reminder to the same person share the limits.
    """

    def __init__(self, api: DingTalkApi, pacer: DingTalkPacer | None = None) -> None:
        self.api = api
        self.pacer = pacer or DingTalkPacer()

    async def deliver_to_dingtalk(self, user_id: str, message: Message) -> str | None:
        """Every part of the message, in order; returns DingTalk's key of the first part.

        A failure stops at the part that failed; the parts before it were delivered (DingTalk has no
        all-or-nothing send), so a retry may repeat them. The chart image, if any, follows the text.
        """
        first: str | None = None
        for part in render(message):
            await self.pacer.wait_turn(user_id)
            receipt = await self.api.send_to_user(user_id, part.msg_key, part.msg_param)
            first = first or receipt.process_query_key
        if message.image is not None:
            media_id = await self.api.upload_image(message.image)
            await self.pacer.wait_turn(user_id)
            await self.api.send_to_user(user_id, IMAGE_KEY, {"photoURL": media_id})
        return first


def dingtalk_deliver(
    sender: DingTalkSender, message_for: Callable[[Session, Sequence[Notification]], Message]
) -> Deliver:
    """The dispatcher's Deliver for notifications whose recipient's channel is DingTalk.

    `message_for` turns a bundle's outbox rows into a core Message (the message model's job); this only finds the
    person's DingTalk id and sends.
    """

    async def deliver(session: Session, rows: Sequence[Notification]) -> str | None:
        head = rows[0]
        contact = session.get(Contact, head.contact_id) if head.contact_id else None
        if contact is None or contact.dingtalk_user_id is None:
            raise RecipientUnreachable(f"notification {head.id}: no DingTalk recipient")
        return await sender.deliver_to_dingtalk(contact.dingtalk_user_id, message_for(session, rows))

    return deliver


def dingtalk_notice_deliver(sender: DingTalkSender, tz: dt.tzinfo) -> Deliver:
    """The DingTalk channel's Deliver: outbox rows rendered by bot/core/notices.py, as the Telegram channel's are,
    in the settings' time zone and DingTalk's words."""
    return dingtalk_deliver(
        sender, lambda session, rows: message_for(session, rows[0], rows, tz=tz, words=DINGTALK)
    )


class RobotConversation:
    """What the robot does with a message: ask the command core, send its answers back to the sender.

    `send_notices` sends the outbox rows a command queued for other people (a 销号 request for the coordinators,
    a decision for the contact) right away, before the reply; without it they wait for the dispatcher's next run.
    """

    def __init__(
        self,
        *,
        core: CommandCore,
        sender: DingTalkSender,
        send_notices: Callable[[Sequence[int]], Awaitable[object]] | None = None,
    ) -> None:
        self.core = core
        self.sender = sender
        self.send_notices = send_notices
        self._replies: set[asyncio.Task[None]] = set()

    async def __call__(self, incoming: IncomingMessage) -> None:
        if not incoming.one_to_one or incoming.sender_staff_id is None:
            log.info("DingTalk message outside a one-to-one chat with a staff member ignored")
            return
        corp = self.core.clock.settings.dingtalk_corp_id
        if corp and (incoming.sender_corp_id != corp or incoming.chatbot_corp_id not in ("", corp)):
            # a staff id means something only inside our organisation: another corp's is nobody of ours
            log.warning(
                "DingTalk message from another organisation refused (sender corp %s, robot corp %s)",
                incoming.sender_corp_id or "-",
                incoming.chatbot_corp_id or "-",
            )
            return
        sender = Sender("dingtalk", incoming.sender_staff_id)
        # DingTalk's msgId: stored with what the message changes, so its redelivery (after a restart, to another
        # instance) changes nothing and is not answered
        message_id = incoming.message_id or None
        notices: tuple[int, ...] = ()
        if incoming.download_code is not None:
            answers = self.core.handle_file(sender, evidence_ref(incoming.download_code), message_id)
        elif incoming.text:
            answer = self.core.answer(sender, incoming.text, message_id)
            answers, notices = answer.messages, answer.notices
        else:
            return
        # the answer is sent after the frame is acked: DingTalk's send API must not delay the ack
        task = asyncio.create_task(self._reply(incoming.sender_staff_id, answers, notices))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def drain(self) -> None:
        """Wait for the answers still being sent (at shutdown, and in tests)."""
        await asyncio.gather(*self._replies, return_exceptions=True)

    async def _reply(self, user_id: str, answers: list[Message], notices: Sequence[int] = ()) -> None:
        if notices and self.send_notices is not None:
            try:  # committed already: a failure here leaves them to the dispatcher, never loses them
                await self.send_notices(notices)
            except Exception:
                log.exception("sending notices %s at once failed; the dispatcher retries them", notices)
        for answer in answers:
            try:
                await self.sender.deliver_to_dingtalk(user_id, answer)
            except DeliveryError as error:
                log.warning("could not answer DingTalk user %s: %s", user_id, error)
                return
