"""Group robots (one-way webhooks): DingTalk custom robot, WeCom group robot, Feishu custom bot.

Each platform's signature, payload, size and rate limit, and its error codes mapped onto the delivery failures
the dispatcher understands. A robot whose webhook or secret no longer works raises RobotDisabled: the caller
marks it inactive (duban.robots.disable_robot) and tells the county's coordinators.

The sender is handed a RobotCredentials value (duban.robots.robot_credentials opens the sealed row with
DUBAN_SECRET_KEY), never the row itself; a robot the key does not open is not posted to and stays as it is.

Signatures, as each platform documents them:
- DingTalk (加签): sign = urlencode(base64(HmacSHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}"))), sent as
  &timestamp=...&sign=... on the webhook URL; the timestamp must be within an hour of DingTalk's clock.
- Feishu (签名校验): sign = base64(HmacSHA256(key=f"{timestamp_s}\\n{secret}", msg="")), sent in the JSON body
  with the timestamp (seconds).
- WeCom: no signature; the key in the webhook URL is the credential.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
from sqlmodel import Session

from bot.core.message import Message, Section
from bot.dingtalk.render import escape as escape_markdown
from bot.dingtalk.render import render as render_dingtalk_markdown
from duban.redaction import keep_out_of_logs
from duban.robots import (
    RobotCredentials,
    already_posted,
    disable_robot,
    record_posted,
    robot_credentials,
    robots_for_plan,
)
from duban.sealing import Keyring, WrongKey
from models import Contact, GroupRobot, Plan, RobotPlatform
from scheduler.delivery import (
    DeliveryError,
    MessageRejected,
    RecipientUnreachable,
    RetryLater,
    TransientFailure,
)

log = logging.getLogger(__name__)

# DingTalk and WeCom: at most 20 messages a minute per robot; Feishu: 100 a minute (and 5 a second)
PER_MINUTE = {RobotPlatform.dingtalk: 20, RobotPlatform.wecom: 20, RobotPlatform.feishu: 100}
WECOM_MARKDOWN_MAX_BYTES = 4096  # WeCom: markdown content at most 4096 bytes of UTF-8
WECOM_IMAGE_MAX_BYTES = 2 * 1024 * 1024  # WeCom: an image of at most 2 MB (before base64)
FEISHU_TEXT_MAX_CHARS = 4000  # Feishu caps the request body at 20 KB; Chinese text is 3 bytes a character
DINGTALK_THROTTLED_SECONDS = 600.0  # DingTalk throttles a robot that sent too fast for 10 minutes
# errcode -> what it means; codes not listed are rejections of this message
DINGTALK_CODES = {300001: "disable", 300005: "disable", 310000: "disable", 130101: "throttled"}
WECOM_CODES = {93000: "disable", 45009: "throttled", 45033: "throttled"}
FEISHU_CODES = {19001: "disable", 19021: "disable", 19002: "disable", 11232: "throttled", 9499: "rejected"}


class RobotDisabled(RecipientUnreachable):
    """The webhook is gone or its secret no longer matches: stop using this robot and tell a coordinator."""


@dataclass(frozen=True)
class Request:
    url: str
    body: dict[str, Any]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def requests_for(robot: RobotCredentials, message: Message, *, now: float) -> list[Request]:
    """The webhook calls that post `message` to the robot's group, signed for the time `now` (epoch seconds)."""
    if robot.platform == RobotPlatform.dingtalk:
        url = robot.webhook_url
        if robot.secret:
            timestamp = int(now * 1000)
            url += f"&timestamp={timestamp}&sign={quote_plus(dingtalk_sign(robot.secret, timestamp))}"
        return [
            Request(url, {"msgtype": "markdown", "markdown": dict(part.msg_param)})
            for part in render_dingtalk_markdown(message)
        ]
    if robot.platform == RobotPlatform.wecom:
        requests = [
            Request(robot.webhook_url, {"msgtype": "markdown", "markdown": {"content": chunk}})
            for chunk in _chunks(_markdown_lines(message), WECOM_MARKDOWN_MAX_BYTES, _utf8_length)
        ]
        if message.image is not None and len(message.image) <= WECOM_IMAGE_MAX_BYTES:
            # WeCom takes the image itself (base64 and its MD5); DingTalk's and Feishu's webhooks want a URL
            # or an uploaded key, so there the chart is dropped and the text kept
            image = {
                "base64": base64.b64encode(message.image).decode(),
                "md5": hashlib.md5(message.image).hexdigest(),
            }
            requests.append(Request(robot.webhook_url, {"msgtype": "image", "image": image}))
        return requests
    timestamp = int(now)
    signature = (
        {"timestamp": str(timestamp), "sign": feishu_sign(robot.secret, timestamp)} if robot.secret else {}
    )
    return [
        Request(robot.webhook_url, {**signature, "msg_type": "text", "content": {"text": chunk}})
        for chunk in _chunks(_plain_lines(message), FEISHU_TEXT_MAX_CHARS, len)
    ]


def _markdown_lines(message: Message) -> list[str]:
    lines = [f"**{escape_markdown(message.title)}**"]
    for section in message.sections:
        lines += ([f"**{escape_markdown(section.heading)}**"] if section.heading else []) + [
            escape_markdown(line) for line in section.lines
        ]
    return lines + ([escape_markdown(message.footer)] if message.footer else [])


def _plain_lines(message: Message) -> list[str]:
    lines = [message.title]
    for section in message.sections:
        lines += ([section.heading] if section.heading else []) + list(section.lines)
    return lines + ([message.footer] if message.footer else [])


def _utf8_length(text: str) -> int:
    return len(text.encode())


def _chunks(lines: list[str], limit: int, size: Callable[[str], int]) -> list[str]:
    """Lines joined into as few chunks as fit the limit, cut between lines (a line alone too long is cut)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in _cut(line, limit, size):
            candidate = f"{current}\n{piece}" if current else piece
            if size(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    return [*chunks, current] if current else chunks


def _cut(line: str, limit: int, size: Callable[[str], int]) -> list[str]:
    pieces = []
    while size(line) > limit:
        cut = limit
        while size(line[:cut]) > limit:
            cut -= 1
        pieces.append(line[:cut])
        line = line[cut:]
    return [*pieces, line]


class RateLimiter:
    """A sliding window per robot: at most `per_minute` sends in any 60 seconds of the injected clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)

    def wait_for(self, robot_id: int, per_minute: int) -> float:
        """Seconds until this robot may send again; 0 means now (and the send is counted)."""
        now = self._clock()
        window = self._sent[robot_id]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            return window[0] + 60 - now
        window.append(now)
        return 0.0


class GroupRobotSender:
    """Posts core Messages to group robots, keeping each robot's rate limit."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._limiter = RateLimiter(clock)
        self._wall_clock = wall_clock

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, robot: RobotCredentials, message: Message) -> None:
        """Every part of the message, each within the robot's rate limit; RetryLater when the minute is full."""
        keep_out_of_logs(robot.secret)  # the webhook's own credentials are masked by pattern
        for request in requests_for(robot, message, now=self._wall_clock()):
            wait = self._limiter.wait_for(robot.robot_id, PER_MINUTE[robot.platform])
            if wait > 0:
                raise RetryLater(
                    wait, f"robot {robot.robot_id} sent {PER_MINUTE[robot.platform]} messages this minute"
                )
            await self._post(robot, request)

    async def _post(self, robot: RobotCredentials, request: Request) -> None:
        try:
            response = await self._http.post(request.url, json=request.body)
        except httpx.HTTPError as error:
            raise TransientFailure(f"robot {robot.robot_id}: {error!r}") from error
        if response.status_code >= 500:
            raise TransientFailure(f"robot {robot.robot_id}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        failure = robot_error(
            robot.platform, response.status_code, answer if isinstance(answer, dict) else {}
        )
        if failure is not None:
            raise failure


def robot_error(platform: RobotPlatform, status: int, answer: dict[str, Any]) -> DeliveryError | None:
    """None when the platform accepted the message; else what its answer means."""
    if platform == RobotPlatform.feishu:
        code, text, codes = (
            answer.get("code", answer.get("StatusCode", -1)),
            answer.get("msg", ""),
            FEISHU_CODES,
        )
    else:
        codes = DINGTALK_CODES if platform == RobotPlatform.dingtalk else WECOM_CODES
        code, text = answer.get("errcode", -1), answer.get("errmsg", "")
    if status == 200 and code == 0:
        return None
    reason = f"{platform.value} {code}: {text}"
    meaning = codes.get(code) if isinstance(code, int) else None
    if meaning == "disable" or status == 404:
        return RobotDisabled(reason)
    if meaning == "throttled":
        seconds = DINGTALK_THROTTLED_SECONDS if platform == RobotPlatform.dingtalk else 60.0
        return RetryLater(seconds, reason)
    return MessageRejected(reason)


@dataclass
class RobotKeys:
    """The key a running duban opens its group robots with (None: DUBAN_SECRET_KEY is not set, robots are paused).

    A robot the key does not open is not posted to and stays as it is (neither disabled nor changed); it is logged
    once per process, as the key cannot change while the process runs.
    """

    keyring: Keyring | None
    refused: set[int] = field(default_factory=set)

    def open(self, robot: GroupRobot) -> RobotCredentials | None:
        if self.keyring is None:
            return None
        try:
            return robot_credentials(robot=robot, keyring=self.keyring)
        except WrongKey:
            if robot.id not in self.refused:
                self.refused.add(robot.id or 0)
                log.warning(
                    "group robot %s is not posted to: DUBAN_SECRET_KEY does not open its webhook (it was sealed "
                    "with another key); add that key to DUBAN_SECRET_KEY, or remove the robot and add it again",
                    robot.id,
                )
            return None


@dataclass
class PostResult:
    """What became of one message posted to a plan's group robots."""

    sent: list[int] = field(default_factory=list)  # robot ids
    later: list[tuple[int, DeliveryError]] = field(default_factory=list)  # to try again (rate limit, network)
    disabled: list[int] = field(default_factory=list)
    coordinators_to_tell: list[Contact] = field(default_factory=list)  # of the robots just disabled
    locked: list[int] = field(default_factory=list)  # the key does not open them (or is not set): not posted


async def post_to_plan_robots(
    *,
    session: Session,
    plan: Plan,
    message: Message,
    sender: GroupRobotSender,
    keys: RobotKeys,
    now: dt.datetime,
    tz: dt.tzinfo,
    key: str | None = None,
) -> PostResult:
    """The weekly 通报 or digest into every active group robot of the plan and of its county that the key opens.

    A robot the platform refuses is disabled here (and committed); the caller tells the coordinators named in
    the result, and retries the `later` ones as it retries any delivery. With a `key`, a robot that was sent
    this key before is skipped and each post is recorded (committed right after it), so a rerun posts nothing
    twice; a crash between a post and its record repeats that one post.
    """
    result = PostResult()
    for robot in robots_for_plan(session=session, plan=plan):
        assert robot.id is not None
        if key is not None and already_posted(session=session, robot=robot, key=key):
            continue
        credentials = keys.open(robot)
        if credentials is None:
            result.locked.append(robot.id)
            continue
        try:
            await sender.send(credentials, message)
        except RobotDisabled as error:
            told = disable_robot(session=session, robot=robot, reason=str(error), now=now, tz=tz)
            result.disabled.append(robot.id)
            result.coordinators_to_tell += [c for c in told if c not in result.coordinators_to_tell]
        except (RetryLater, TransientFailure, MessageRejected) as error:
            result.later.append((robot.id, error))
        else:
            result.sent.append(robot.id)
            if key is not None:
                record_posted(session=session, robot=robot, key=key, now=now)
                session.commit()
    session.commit()
    return result


def robot_disabled_notice(_: Callable[[str], str], robot: GroupRobot, reason: str) -> Message:
    """What the coordinators are told when a group robot is disabled (the caller queues it for each)."""
    platform = {
        RobotPlatform.dingtalk: _("DingTalk"),
        RobotPlatform.wecom: _("WeCom"),
        RobotPlatform.feishu: _("Feishu"),
    }
    return Message(
        title=_("Group robot {id} ({platform}) was disabled").format(
            id=robot.id, platform=platform[robot.platform]
        ),
        sections=(
            Section(
                lines=(
                    _("The platform refused it: {reason}").format(reason=reason),
                    _(
                        "Its group no longer receives the weekly 通报 and digest. Check the webhook and secret, then ask whoever runs duban to add it again (duban robot add)."
                    ),
                )
            ),
        ),
    )
