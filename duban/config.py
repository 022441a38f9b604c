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
    web_base_url: str = Field(
        default="http://127.0.0.1:8080", description="public address of the web dashboard, for /web links"
    )
    web_secure_cookie: bool | None = Field(
        default=None, description="mark the dashboard's cookie Secure; unset: when web_base_url is https"
    )
    web_session_hours: int = Field(default=8, description="a dashboard session ends after this many hours")

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

    @property
    def invite_ttl(self) -> timedelta:
        return timedelta(days=self.invite_ttl_days)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def web_cookie_secure(self) -> bool:
        if self.web_secure_cookie is not None:
            return self.web_secure_cookie
        return self.web_base_url.lower().startswith("https://")

    @property
    def web_session_ttl(self) -> timedelta:
        return timedelta(hours=self.web_session_hours)


@lru_cache
def get_settings() -> Settings:
    return Settings()
