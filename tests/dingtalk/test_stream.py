"""The Stream receiver (the official SDK's client, adapted) against the stand-in's gateway and WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import requests

from bot.dingtalk.stream import IncomingMessage, StreamReceiver, StreamState
from bot.i18n import gettext_for
from duban.errors import ConfigurationError
from tests.standins.dingtalk import DingTalkStandIn


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[IncomingMessage] = asyncio.Queue()

    async def __call__(self, incoming: IncomingMessage) -> None:
        await self.messages.put(incoming)


@pytest.fixture(autouse=True)
def no_synchronous_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may go through the SDK's synchronous `requests` helpers: they would stall the event loop."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a synchronous requests call was made")

    monkeypatch.setattr(requests.Session, "request", refuse)


@pytest.fixture
async def receiver(standin: DingTalkStandIn) -> AsyncIterator[tuple[StreamReceiver, Inbox]]:
    inbox = Inbox()
    client = StreamReceiver(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        on_message=inbox,
        api_base=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
        local_ip=lambda: "127.0.0.1",
    )
    running = asyncio.create_task(client.run())
    await standin.wait_connected()
    yield client, inbox
    await client.stop()
    await asyncio.wait_for(running, 5)


async def test_the_receiver_subscribes_to_the_robot_topic_with_the_apps_credentials(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn
) -> None:
    [opened] = standin.recorded.connections_opened
    assert opened["clientId"] == standin.client_id
    assert opened["subscriptions"] == [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]
    assert opened["localIp"] == "127.0.0.1"


async def test_a_ping_is_answered_with_its_opaque_and_logs_no_warning(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        opaque = standin.push_ping()
        ack = await standin.next_ack()
    assert ack["code"] == 200
    assert json.loads(ack["data"]) == {"opaque": opaque}
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_robot_text_reaches_the_handler_as_plain_values_and_is_acked(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn
) -> None:
    _, inbox = receiver
    message_id = standin.push_robot_text("staff-001", "  任务  ", nick="王老师")

    incoming = await asyncio.wait_for(inbox.messages.get(), 5)
    ack = await standin.next_ack()

    assert incoming.sender_staff_id == "staff-001"
    assert incoming.sender_nick == "王老师"
    assert incoming.text == "任务"
    assert incoming.one_to_one is True
    assert incoming.download_code is None
    assert ack["code"] == 200 and ack["headers"]["messageId"] == message_id


async def test_a_picture_carries_its_download_code(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn
) -> None:
    _, inbox = receiver
    standin.push_robot_picture("staff-001", b"\x89PNG")
    incoming = await asyncio.wait_for(inbox.messages.get(), 5)
    assert incoming.text == ""
    assert incoming.download_code is not None and standin.files[incoming.download_code] == b"\x89PNG"


async def test_a_topic_without_a_handler_is_still_acked_so_dingtalk_stops_resending(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn
) -> None:
    frame = standin._frame("CALLBACK", "/v1.0/card/instances/callback", "{}", message_id="card-1")
    standin.push_frame(frame)
    ack = await standin.next_ack()
    assert ack["headers"]["messageId"] == "card-1"
    assert ack["code"] == 404


async def test_a_redelivered_message_is_handled_once_and_acked_again(
    receiver: tuple[StreamReceiver, Inbox], standin: DingTalkStandIn
) -> None:
    _, inbox = receiver
    data = '{"msgtype": "text", "text": {"content": "任务"}, "senderStaffId": "staff-001", "conversationType": "1"}'
    frame = standin._frame("CALLBACK", "/v1.0/im/bot/messages/get", data, message_id="same-1")
    standin.push_frame(frame)
    first = await standin.next_ack()
    standin.push_frame(frame)
    second = await standin.next_ack()

    assert first["headers"]["messageId"] == second["headers"]["messageId"] == "same-1"
    assert (await asyncio.wait_for(inbox.messages.get(), 5)).text == "任务"
    assert inbox.messages.empty()


async def test_a_failing_handler_does_not_stop_the_connection(standin: DingTalkStandIn) -> None:
    async def broken(incoming: IncomingMessage) -> None:
        raise RuntimeError("database down")

    client = StreamReceiver(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        on_message=broken,
        api_base=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
        local_ip=lambda: "127.0.0.1",
    )
    running = asyncio.create_task(client.run())
    await standin.wait_connected()
    standin.push_robot_text("staff-001", "任务")
    assert (await standin.next_ack())["code"] == 200
    opaque = standin.push_ping()
    assert json.loads((await standin.next_ack())["data"]) == {"opaque": opaque}
    await client.stop()
    await asyncio.wait_for(running, 5)


async def test_wrong_credentials_at_start_are_refused_in_one_line_and_not_retried(
    standin: DingTalkStandIn,
) -> None:
    async def no_retry(seconds: float) -> None:
        raise AssertionError("credentials the gateway refused are not retried")

    client = StreamReceiver(
        client_id=standin.client_id,
        client_secret="wrong",
        on_message=Inbox(),
        api_base=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
        local_ip=lambda: "127.0.0.1",
        sleep=no_retry,
    )
    with pytest.raises(ConfigurationError) as refused:
        await asyncio.wait_for(client.run(), 5)
    assert refused.value.render(gettext_for("zh_CN")).startswith(
        "钉钉拒绝了 DUBAN_DINGTALK_CLIENT_ID 和 DUBAN_DINGTALK_CLIENT_SECRET（401 "
    )
    assert standin.recorded.connections_opened == []


async def test_an_outage_after_start_is_retried_and_said_once_when_it_begins_and_once_when_it_ends(
    standin: DingTalkStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    changes: list[StreamState] = []
    pauses: list[float] = []
    secret = standin.client_secret
    back = asyncio.Event()

    def changed(state: StreamState, reason: str) -> None:
        changes.append(state)
        if state is StreamState.BACK:
            back.set()

    async def recorded(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 5:  # the gateway takes the app back after four failed tries
            standin.client_secret = secret

    client = StreamReceiver(
        client_id=standin.client_id,
        client_secret=secret,
        on_message=Inbox(),
        api_base=standin.url,
        http=httpx.AsyncClient(timeout=5, trust_env=False),
        local_ip=lambda: "127.0.0.1",
        sleep=recorded,
        on_state=changed,
    )
    running = asyncio.create_task(client.run())
    await standin.wait_connections(1)
    standin.client_secret = "rotated"  # the gateway refuses the app from now on, and moves it off this socket
    standin.push_frame(
        {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {"topic": "disconnect", "messageId": "d-1"},
            "data": "{}",
        }
    )
    await asyncio.wait_for(back.wait(), 10)
    await client.stop()
    await asyncio.wait_for(running, 5)

    assert changes == [StreamState.CONNECTED, StreamState.LOST, StreamState.BACK]
    assert pauses == [1.0, 1.0, 2.0, 5.0, 10.0]  # the gateway's move, then the outage's growing pauses
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # the tries are not each said
