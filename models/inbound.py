"""Messages people sent the bot, by the platform's own id: stored with what the message did, so a redelivery of it
(a restart, a lost acknowledgement, a second instance) does nothing a second time (duban/services/inbound.py)."""

import datetime as dt

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime

# DingTalk's msgId is some 40 characters, Telegram's update_id a number; a longer id is stored as its SHA-256
MESSAGE_ID = 128


class InboundMessage(SQLModel, table=True):
    """One message that changed something; the key is the platform's, so a second delivery finds it taken."""

    channel: str = Field(primary_key=True, max_length=16)  # "telegram", "dingtalk"
    message_id: str = Field(primary_key=True, max_length=MESSAGE_ID)  # DingTalk msgId, Telegram update_id
    # kept a week (duban/services/inbound.py: RETENTION), then forgotten by the plan job
    received_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
