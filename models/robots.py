"""Group robots: one-way webhooks into a plan's or a county's work group (DingTalk, WeCom, Feishu)."""

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models import limits
from models.types import UTCDateTime, utcnow


class RobotPlatform(StrEnum):
    dingtalk = "dingtalk"  # 钉钉自定义机器人: webhook + HMAC-SHA256 timestamp signature
    wecom = "wecom"  # 企业微信群机器人: the key in the webhook URL is the only credential
    feishu = "feishu"  # 飞书自定义机器人: webhook + signature in the body


class GroupRobot(SQLModel, table=True):
    """A work group's robot; it receives the weekly 通报 and digest of its plan, or of every plan of its county."""

    id: int | None = Field(default=None, primary_key=True)
    platform: RobotPlatform = Field(max_length=10)
    name: str = Field(default="", max_length=80)
    # the webhook URL and the signing secret, sealed with DUBAN_SECRET_KEY (duban/sealing.py): a copy of the database
    # holds no usable webhook. Only duban.robots opens them, into a RobotCredentials value handed to the sender; they
    # are never opened into these attributes, which the session would write back
    webhook_sealed: str | None = Field(default=None, max_length=limits.SEALED_WEBHOOK)
    secret_sealed: str | None = Field(default=None, max_length=limits.SEALED_SECRET)
    # a robot added before 0021 keeps its webhook and secret here, as they were stored, until the first command
    # with the key seals it (duban.robots.seal_robots), which empties both
    plain_webhook_url: str | None = Field(default=None, max_length=limits.ROBOT_WEBHOOK)
    plain_secret: str | None = Field(default=None, max_length=limits.ROBOT_SECRET)
    # scope: one plan, or (plan empty) every plan of the county named in region
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    region: str = Field(max_length=80, index=True)
    active: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
