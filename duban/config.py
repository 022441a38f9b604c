"""The one typed settings object; nothing else reads the environment."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'duban.db'}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... in production",
    )
    timezone: str = Field(default="Asia/Shanghai", description="local time zone for dates shown and sent")
    reminder_days: list[int] = Field(
        default=[180, 90, 30, 7, 1], description="days before a due date when the lead is reminded"
    )
    co_notice_days: int = Field(default=30, description="days before a due date when co departments are told")
    language: str = Field(default="zh_CN", description="default interface language")
    telegram_bot_token: str | None = Field(
        default=None,
        validation_alias="TELEGRAM_BOT_TOKEN",
        description="bot token from @BotFather; only `duban run` needs it",
    )
    telegram_base_url: str | None = Field(
        default=None, description="another Bot API server, e.g. an emulator"
    )
    bot_username: str = Field(default="duban_bot", description="used to build invitation links")
    invite_ttl_days: int = Field(default=7, description="days an invitation link stays valid")
    state_dir: Path = Field(
        default=DEFAULT_DATA_DIR, description="where the bot keeps half-finished conversations"
    )
    plan_interval_seconds: int = Field(
        default=300, description="how often due reminders are written to the outbox"
    )
    catch_up_days: int = Field(
        default=7, description="a reminder missed while down is sent late up to this age"
    )
    claim_seconds: int = Field(
        default=120, description="a dispatcher's claim on a message expires after this"
    )
    lease_seconds: int = Field(
        default=30, description="scheduler lease; another instance takes over after this"
    )
    webhook_secret: str | None = Field(
        default=None, description="Telegram webhook secret; derived from the token if unset"
    )
    dispatch_interval_seconds: int = Field(default=10, description="how often the outbox is sent")
    dingtalk_client_id: str | None = Field(
        default=None,
        description="DingTalk app's Client ID (AppKey); DingTalk runs when this and the secret are set",
    )
    dingtalk_client_secret: str | None = Field(
        default=None, description="DingTalk app's Client Secret (AppSecret)"
    )
    dingtalk_robot_code: str | None = Field(
        default=None, description="the app robot's RobotCode; the Client ID when unset (DingTalk's default)"
    )
    dingtalk_api_base: str = Field(
        default="https://api.dingtalk.com",
        description="DingTalk OpenAPI and Stream gateway; tests point it at a local stand-in",
    )
    dingtalk_legacy_api_base: str = Field(
        default="https://oapi.dingtalk.com",
        description="DingTalk's legacy host, used for uploading the digest chart",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("reminder_days")
    @classmethod
    def _positive_days(cls, days: list[int]) -> list[int]:
        if any(d <= 0 for d in days):
            raise ValueError("reminder days must be positive")
        return sorted(set(days), reverse=True)

    @field_validator("telegram_bot_token")
    @classmethod
    def _not_a_placeholder(cls, token: str | None) -> str | None:
        if token is not None and token.strip().lower() in {"", "changeme", "your-token", "xxx", "token"}:
            raise ValueError("TELEGRAM_BOT_TOKEN is a placeholder; set the token @BotFather gave you")
        return token

    @field_validator("dingtalk_client_secret")
    @classmethod
    def _not_a_placeholder_secret(cls, secret: str | None) -> str | None:
        if secret is not None and secret.strip().lower() in {"", "changeme", "your-secret", "xxx", "secret"}:
            raise ValueError("DUBAN_DINGTALK_CLIENT_SECRET is a placeholder; set the app's Client Secret")
        return secret

    @property
    def dingtalk_enabled(self) -> bool:
        return bool(self.dingtalk_client_id and self.dingtalk_client_secret)

    @property
    def invite_ttl(self) -> timedelta:
        return timedelta(days=self.invite_ttl_days)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache
def get_settings() -> Settings:
    return Settings()
