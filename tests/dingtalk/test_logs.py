"""No secret in any log line: every channel's calls, with `-v` (INFO) logging as the CLI sets it up, grepped."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from bot.core.message import Message
from bot.dingtalk.api import DingTalkApi
from bot.robots.senders import GroupRobotSender
from duban import redaction
from duban.operations import configure_logging
from models import RobotPlatform
from tests.dingtalk.test_group_robots import DINGTALK_SECRET, robot
from tests.standins.dingtalk import DingTalkStandIn
from tests.standins.group_robots import GroupRobotStandIn

TELEGRAM_TOKEN = "123456789:AAH-the-bots-secret-token-0123456789"
SIGN_IN = "k9Z2fQ7xR4mN8pL1sT6vW3yB5cD0eG"
INVITE = "7NRZiW-FxQpL2mK9sT4vW8yB1cD5eG3h"


@pytest.fixture
def cli_log() -> Iterator[io.StringIO]:
    """The CLI's logging set-up for a `-v` run, its stderr handler writing here instead; pytest's handlers come
    back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(verbose=True, json_lines=False)
    written = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    yield written
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def groups() -> Iterator[GroupRobotStandIn]:
    server = GroupRobotStandIn()
    server.dingtalk["dt-token"] = DINGTALK_SECRET
    server.wecom_keys.add("wecom-key")
    server.feishu["fs-token"] = "feishu-secret"
    server.start()
    yield server
    server.stop()


async def test_every_channels_secrets_stay_out_of_a_verbose_log(
    cli_log: io.StringIO, standin: DingTalkStandIn, groups: GroupRobotStandIn
) -> None:
    redaction.keep_out_of_logs(TELEGRAM_TOKEN)  # as the CLI does with the settings' secrets
    api = DingTalkApi(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        base_url=standin.url,
        legacy_base_url=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
    )
    sender = GroupRobotSender(http=httpx.AsyncClient(timeout=5, trust_env=False))
    try:
        await api.upload_image(b"\x89PNG chart")  # the legacy host: the access token is a URL parameter
        token = await api.access_token()
        for platform in RobotPlatform:
            await sender.send(
                robot(groups, platform, robot_id=list(RobotPlatform).index(platform) + 1), Message("周报")
            )
    finally:
        await api.aclose()
        await sender.aclose()
    # what libraries and duban write about such calls when they fail or retry
    log = logging.getLogger("duban.test")
    log.warning("POST https://api.telegram.org/bot%s/sendMessage failed", TELEGRAM_TOKEN)
    log.info("GET http://127.0.0.1:8080/login/%s 200", SIGN_IN)
    log.info("invitation https://t.me/duban_bot?start=%s", INVITE)
    webhook = robot(groups, RobotPlatform.dingtalk).webhook_url
    try:
        raise httpx.ConnectError(f"cannot reach {webhook}&sign=abc")
    except httpx.ConnectError:
        log.exception("robot post failed")

    written = cli_log.getvalue()
    assert "robot post failed" in written and "/login/<redacted>" in written
    # the sender registered each signing secret it was handed, opened, as it used it
    assert redaction.clean(f"{DINGTALK_SECRET} feishu-secret") == "<redacted> <redacted>"
    for secret in (
        TELEGRAM_TOKEN,
        standin.client_secret,
        token,
        "dt-token",
        DINGTALK_SECRET,
        "wecom-key",
        "fs-token",
        "feishu-secret",
        SIGN_IN,
        INVITE,
    ):
        assert secret not in written, secret


@pytest.mark.parametrize(
    ("line", "cleaned"),
    [
        (
            "GET https://oapi.dingtalk.com/media/upload?access_token=abc123&type=image",
            "access_token=<redacted>&type",
        ),
        (
            "POST /robot/send?access_token=t0k&timestamp=1&sign=s1g%3D",
            "access_token=<redacted>&timestamp=1&sign=<redacted>",
        ),
        ("POST /cgi-bin/webhook/send?key=693a91f6-7xxx", "key=<redacted>"),
        ("POST /open-apis/bot/v2/hook/2e4c-99aa", "/hook/<redacted>"),
        ("GET /bot123:ABC-def/getMe", "/bot<bot-token>/getMe"),
    ],
)
def test_credential_parts_of_urls_are_masked(line: str, cleaned: str) -> None:
    assert cleaned in redaction.clean(line)
