"""The one typed settings object; nothing else reads the environment.

An empty variable counts as unset (deploy/duban.env.example ships `TELEGRAM_BOT_TOKEN=`), and a value duban
cannot use is refused by `load_settings()` in one line that names the variable and shows a valid value.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from duban.errors import ConfigurationError
from duban.sealing import KEY_COMMAND, Keyring, parse_keys

DEFAULT_DATA_DIR = Path("var")
DEFAULT_LANGUAGE = "zh_CN"
# the one place the county's time zone is written: everything else takes Settings.tz (tests/test_repository.py)
DEFAULT_TIMEZONE = "Asia/Shanghai"
LANGUAGES = ("zh_CN", "en")
# what documents put where a secret goes, this README and deploy/duban.env.example among them: `ding…`,
# `123456789:AAH…`, `...`, `<token>`, `你的AppSecret`, `your-secret`, `changeme`, `xxxx`. Real tokens, ids and
# secrets are ASCII letters, digits and -_: (Telegram, DingTalk), so none of these marks is ever in one.
_PLACEHOLDER_MARKS = re.compile(
    r"…|\.\.\.|<[^>]*>|[^\x00-\x7f]|^x+$|^your[-_ ]|change[-_ ]?me", re.IGNORECASE
)
_PLACEHOLDER_WORDS = {"token", "secret", "todo", "placeholder", "example", "none", "null", "test"}

_SOURCES = SettingsConfigDict(env_prefix="DUBAN_", env_file=".env", extra="ignore", env_ignore_empty=True)
# names the file of settings read beside the environment (.env by default); the tests set it to os.devnull, so a
# developer's .env never reaches them (tests/conftest.py)
ENV_FILE_VARIABLE = "DUBAN_ENV_FILE"


class _Sources(BaseSettings):
    """The environment, then the .env file DUBAN_ENV_FILE names."""

    model_config = _SOURCES

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        chosen = os.environ.get(ENV_FILE_VARIABLE, "").strip()
        if chosen:
            dotenv_settings = DotEnvSettingsSource(settings_cls, env_file=chosen)
        return init_settings, env_settings, dotenv_settings, file_secret_settings


def _language(value: str) -> str:
    """zh_CN, zh-CN and zh mean Chinese; en, en_US mean English."""
    lowered = value.strip().lower().replace("-", "_")
    if lowered in {"zh", "zh_cn", "zh_hans"}:
        return "zh_CN"
    if lowered == "en" or lowered.startswith("en_"):
        return "en"
    raise ValueError("unknown language")


def is_placeholder(value: str) -> bool:
    text = value.strip()
    return text.lower() in _PLACEHOLDER_WORDS or bool(_PLACEHOLDER_MARKS.search(text))


class Settings(_Sources):
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'duban.db'}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... in production",
    )
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="local time zone for dates shown and sent")
    reminder_days: Annotated[list[int], NoDecode] = Field(
        default=[180, 90, 30, 7, 1], description="days before a due date when the lead is reminded"
    )
    co_notice_days: int = Field(default=30, description="days before a due date when co departments are told")
    language: str = Field(default=DEFAULT_LANGUAGE, description="default interface language")
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
    dingtalk_corp_id: str | None = Field(
        default=None,
        description="the organisation's CorpId (dingxxxx); when set, a message from another organisation is refused",
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
    web_base_url: str = Field(
        default="http://127.0.0.1:8080", description="public address of the web dashboard, for /web links"
    )
    web_secure_cookie: bool | None = Field(
        default=None, description="mark the dashboard's cookie Secure; unset: when web_base_url is https"
    )
    web_session_hours: int = Field(default=8, description="a dashboard session ends after this many hours")
    issuing_office: str | None = Field(
        default=None,
        max_length=60,
        description="the office that signs the 督查通报 (落款, the document's author); the plan's issuer when unset",
    )
    document_code: str | None = Field(
        default=None,
        max_length=20,
        pattern=r"^[^\s〔〕\[\]]+$",
        description="the 机关代字 of the 通报's 发文字号 (淄教督 in 淄教督〔2026〕3号); `duban tongbao --number 3`",
    )
    secret_key: str | None = Field(
        default=None,
        description="Fernet key sealing the group robots' webhooks and secrets (key1,key2: the first seals, any "
        "opens); group robots are paused without it",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _days_list(cls, value: Any) -> Any:
        """`180,90,30` as well as the JSON list `[180,90,30]`."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("not a list of days") from None
        return [part.strip() for part in text.split(",")]

    @field_validator("reminder_days")
    @classmethod
    def _positive_days(cls, days: list[int]) -> list[int]:
        if not days or any(d <= 0 for d in days):
            raise ValueError("reminder days must be positive")
        return sorted(set(days), reverse=True)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return _language(value)

    def bot_token(self) -> str:
        """The token, for the commands that talk to Telegram; the others never ask for it."""
        token = (self.telegram_bot_token or "").strip()
        if not token:
            raise ConfigurationError(
                "TELEGRAM_BOT_TOKEN is not set; put the token @BotFather gave you in it, "
                "like TELEGRAM_BOT_TOKEN=123456789:AAH…"
            )
        return token  # a placeholder never gets here: _not_a_placeholder refused it when the settings loaded

    @field_validator(
        "telegram_bot_token",
        "webhook_secret",
        "dingtalk_client_id",
        "dingtalk_client_secret",
        "dingtalk_corp_id",
        "dingtalk_robot_code",
    )
    @classmethod
    def _not_a_placeholder(cls, value: str | None) -> str | None:
        """A value copied from an example is refused at start, naming the setting, before anything connects."""
        if value is not None and is_placeholder(value):
            raise PydanticCustomError("placeholder", "a placeholder, not a real value")
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: str | None) -> str | None:
        return None if value is None else ",".join(parse_keys(value))

    def keyring(self) -> Keyring | None:
        """The keys that seal and open the group robots' webhooks; None when DUBAN_SECRET_KEY is not set."""
        return Keyring(parse_keys(self.secret_key)) if self.secret_key else None

    @property
    def dingtalk_enabled(self) -> bool:
        return bool(self.dingtalk_client_id and self.dingtalk_client_secret)

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


# what a valid value looks like, where the default does not show it well
_EXAMPLES = {
    "timezone": DEFAULT_TIMEZONE,
    "reminder_days": "180,90,30,7,1",
    "language": "zh_CN",
    "issuing_office": "淄博市淄川区教育和体育局",
    "document_code": "淄教督",
}
_SECRETS = {"telegram_bot_token", "webhook_secret", "secret_key"}


def _variable(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return alias if isinstance(alias, str) else f"DUBAN_{field.upper()}"


def _refusal(field: str, value: object) -> ConfigurationError:
    if field == "secret_key":  # no example to copy: a key must be made, never taken from a document
        return ConfigurationError(
            "{variable} is not a key duban can use; make one with {command} and put it in {variable}",
            variable=_variable(field),
            command=KEY_COMMAND,
        )
    default = Settings.model_fields[field].default if field in Settings.model_fields else None
    example = _EXAMPLES.get(field, "" if default is None else str(default))
    shown = "…" if field in _SECRETS else str(value)
    return ConfigurationError(
        "{variable} has a value duban cannot use ({value}); write it like {variable}={example}",
        variable=_variable(field),
        value=shown,
        example=example,
    )


def load_settings() -> Settings:
    """The settings, or ConfigurationError naming the first variable that is wrong and a valid value."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = _field_of(error["loc"][0])
        if error["type"] == "placeholder":  # shown: it is the example's text, not a secret
            raise ConfigurationError(
                "{variable} still holds the example's placeholder ({value}); put the real value in it",
                variable=_variable(field),
                value=str(error.get("input", "")).strip(),
            ) from None
        raise _refusal(field, error.get("input")) from None
    except SettingsError as exc:  # pragma: no cover - NoDecode leaves parsing to the validators
        raise ConfigurationError("a setting cannot be read: {reason}", reason=str(exc)) from None


def _field_of(location: object) -> str:
    for name, info in Settings.model_fields.items():
        if location in (name, info.validation_alias):
            return name
    return str(location)


@lru_cache
def get_settings() -> Settings:
    return load_settings()


class _LanguageOnly(_Sources):
    language: str = DEFAULT_LANGUAGE


def interface_language() -> str:
    """The language of the CLI's help and messages, known even when another setting is wrong."""
    try:
        return _language(_LanguageOnly().language)
    except (ValueError, ValidationError):
        return DEFAULT_LANGUAGE
