"""A Telegram update delivered again does nothing twice: a webhook call retried, or an update polled again after a
restart that never confirmed it. The update_id is stored with what the handler changed, in that transaction
(bot/telegram/runtime.py), and an update found there is skipped where updates enter (bot/telegram/edge.py), in both modes."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session, select
from telegram import Update
from telegram.ext import Application
from telegram.request import RequestData

from bot.telegram.app import build_application, conversation_persistence
from bot.telegram.runtime import Runtime
from bot.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH, derive_secret, webhook_app
from duban.config import Settings
from duban.db import make_engine
from duban.services.inbound import AlreadyHandled
from models import InboundMessage, Notification, ProgressReport
from tests.bot.conftest import NOW, FakeUser, Harness, build_harness
from tests.telegram_fakes import TOKEN, RecordingRequest

CONTACT = FakeUser(1001)
CONFIRMATION = "状态：正常推进\n进度：60%\n备注：已开工"


@pytest.fixture
def reminded(harness: Harness) -> Harness:
    """A contact who got a reminder (message 778) about （三）."""
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=778)
    return harness


def report_update(harness: Harness, update_id: int) -> dict[str, Any]:
    """The contact's reply to the reminder: a progress report."""
    return {
        "update_id": update_id,
        "message": harness.message_payload(CONTACT, "完成60%，已开工", reply_to=778),
    }


def shown(request: RecordingRequest, since: int = 0) -> list[str]:
    """What the contact was sent (messages to their chat), from the `since`-th Bot API call on."""
    return [
        params["text"]
        for endpoint, params in request.calls[since:]
        if endpoint == "sendMessage" and int(params.get("chat_id", 0)) == CONTACT.id
    ]


async def process(app: Application, payload: dict[str, Any]) -> None:  # type: ignore[type-arg]
    await app.process_update(Update.de_json(payload, app.bot))


def stored_update_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(select(InboundMessage.message_id).where(InboundMessage.channel == "telegram"))
        )


async def test_a_report_retried_by_the_webhook_is_stored_once_and_confirmed_once(
    reminded: Harness, engine: Engine
) -> None:
    app = webhook_app(reminded.app, secret=derive_secret(TOKEN), health=lambda: {})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
        for _ in range(2):  # Telegram did not hear the first 200 and calls again with the same update
            response = await client.post(
                WEBHOOK_PATH,
                json=report_update(reminded, 9001),
                headers={SECRET_HEADER: derive_secret(TOKEN)},
            )
            assert response.status_code == 200
    before = len(reminded.request.calls)
    while not reminded.app.update_queue.empty():
        await reminded.app.process_update(reminded.app.update_queue.get_nowait())

    [confirmation] = shown(reminded.request, before)
    assert CONFIRMATION in confirmation
    assert [(r.percent, r.note) for r in reminded.rows(ProgressReport)] == [(60, "已开工")]
    assert stored_update_ids(engine) == ["9001"]


async def test_an_update_again_after_a_restart_changes_nothing_and_a_read_is_answered_again(
    reminded: Harness, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    await process(reminded.app, report_update(reminded, 9001))
    # the first list numbers the milestones for this person (a change, recorded); a list again changes nothing
    await reminded.say(CONTACT, "/tasks")
    tasks = {"update_id": 9002, "message": reminded.message_payload(CONTACT, "/tasks")}
    await process(reminded.app, tasks)
    other = make_engine(database_url)
    (tmp_path / "restarted").mkdir()
    restarted = build_harness(other, tmp_path / "restarted", request=reminded.request)
    await restarted.app.initialize()
    try:
        before = len(reminded.request.calls)
        await process(restarted.app, report_update(reminded, 9001))
        assert shown(reminded.request, before) == []  # no second confirmation, no "not a reply" either

        await process(restarted.app, tasks)  # /tasks changed nothing: answered again, the same answer
        [listing] = shown(reminded.request, before)
        assert listing.startswith("<b>未完成的时间节点")
    finally:
        await restarted.app.shutdown()
        other.dispose()
    assert len(reminded.rows(ProgressReport)) == 1
    stored = stored_update_ids(engine)
    assert "9001" in stored and "9002" not in stored and len(stored) == 2  # the report and the first list
    assert restarted.errors == []


async def test_the_same_button_press_twice_reports_no_change_once(reminded: Harness, engine: Engine) -> None:
    [reminder] = reminded.rows(Notification)
    press = {
        "update_id": 9003,
        "callback_query": {
            "id": "cb-1",
            "from": CONTACT.as_dict(),
            "chat_instance": "ci",
            "data": f"/nc {reminder.id}",
            "message": reminded.message_payload(CONTACT, "…"),
        },
    }
    before = len(reminded.request.calls)
    await process(reminded.app, press)
    await process(reminded.app, press)

    assert [e for e, _ in reminded.request.calls[before:]].count("answerCallbackQuery") == 1
    assert [r.note for r in reminded.rows(ProgressReport)] == ["无变化"]


async def test_a_delivery_that_finds_its_update_id_taken_at_its_commit_rolls_back_and_says_nothing(
    reminded: Harness, engine: Engine
) -> None:
    """Two instances with the same update: the other one stored the update_id after this one looked for it."""

    committed: list[bool] = []

    def the_other_instance_commits_first(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PROGRESSREPORT") and not committed:
            committed.append(True)
            with engine.begin() as other:  # its own connection, as another process
                other.execute(
                    text(
                        "INSERT INTO inboundmessage (channel, message_id, received_at) VALUES (:c, :m, :at)"
                    ),
                    {"c": "telegram", "m": "9001", "at": NOW.replace(tzinfo=None)},
                )

    event.listen(engine, "before_cursor_execute", the_other_instance_commits_first)
    before = len(reminded.request.calls)
    try:
        await process(reminded.app, report_update(reminded, 9001))
    finally:
        event.remove(engine, "before_cursor_execute", the_other_instance_commits_first)

    assert shown(reminded.request, before) == []  # neither a confirmation nor an apology
    assert reminded.rows(ProgressReport) == []  # this delivery's report was rolled back
    assert [type(e) for e in reminded.errors] == [AlreadyHandled]  # the error handler said nothing
    reminded.errors.clear()


class PolledTelegram(RecordingRequest):
    """getUpdates as the Bot API answers it: every update from the offset on, so an update the poller did not
    confirm (a later offset never reached Telegram: the process died) comes again to the next process."""

    def __init__(self, updates: list[dict[str, Any]]) -> None:
        super().__init__()
        self.updates = updates
        self.offsets: list[int] = []
        self.asked = asyncio.Event()  # a poll found nothing new: all it was given is in the update queue

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if not url.endswith("/getUpdates"):
            return await super().do_request(url, method, request_data, *args, **kwargs)
        params = dict(request_data.parameters) if request_data else {}
        offset = int(params.get("offset") or 0)
        self.offsets.append(offset)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and float(params.get("timeout") or 0) > 0:
            self.asked.set()
            await asyncio.Event().wait()  # a long poll with nothing new, until the updater stops
        return 200, json.dumps({"ok": True, "result": pending}).encode()


async def poll_once(
    engine: Engine, state: Path, main: RecordingRequest, updates: list[dict[str, Any]]
) -> None:
    """One `duban run` in polling mode: start, take what getUpdates gives, process it, stop."""
    telegram = PolledTelegram(updates)
    state.mkdir()
    app = build_application(
        Runtime(engine=engine, settings=Settings(), clock=lambda: NOW),
        token=TOKEN,
        request=main,
        get_updates_request=telegram,
        persistence=conversation_persistence(state / "conversations.pickle"),
        rate_limit=False,
    )
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling()
    await asyncio.wait_for(telegram.asked.wait(), 10)
    await asyncio.wait_for(app.update_queue.join(), 10)
    await app.updater.stop()
    await app.stop()
    await app.shutdown()
    return telegram


async def test_an_update_polled_again_after_a_restart_is_skipped(
    reminded: Harness, engine: Engine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    updates = [report_update(reminded, 9001)]
    before = len(reminded.request.calls)
    first = await poll_once(engine, tmp_path / "first", reminded.request, updates)
    other = make_engine(database_url)  # the next process, on the same database
    try:
        with caplog.at_level(logging.INFO, logger="bot.telegram.edge"):
            second = await poll_once(other, tmp_path / "second", reminded.request, updates)
    finally:
        other.dispose()

    # each process was handed the update (offset 0), then asked for what follows it
    assert first.offsets[:2] == second.offsets[:2] == [0, 9002]
    assert "update 9001 changed something already; this delivery is skipped" in caplog.messages
    [confirmation] = shown(reminded.request, before)
    assert CONFIRMATION in confirmation
    assert len(reminded.rows(ProgressReport)) == 1
