"""The e2e harness works: a PTB app behind the telegram-test-api emulator, driven as a user."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.error import BadRequest, NetworkError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.telegram.emulator import EmulatorRequest, fix_response

from .conftest import Emulator, EmulatorClient

pytestmark = pytest.mark.e2e


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    context.bot_data["starts"] = context.bot_data.get("starts", 0) + 1
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Press me", callback_data="pressed")]])
    await update.message.reply_text(f"pong {' '.join(context.args or [])}", reply_markup=keyboard)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("clicked!")
    context.bot_data["edit_result"] = await query.edit_message_text(
        f"{query.from_user.first_name} pressed {query.data}"
    )


def build_app(emulator: Emulator, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        Application.builder()
        .token(token)
        .base_url(emulator.bot_base_url)
        .base_file_url(emulator.bot_base_file_url)
        .request(EmulatorRequest())
        .get_updates_request(EmulatorRequest())
        .build()
    )


@pytest.fixture
async def running_app(
    emulator: Emulator, bot_token: str, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    caplog.set_level(logging.WARNING)
    app = build_app(emulator, bot_token)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed, pattern="^pressed$"))
    errors: list[object] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app.add_error_handler(on_error)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
    assert errors == [], f"handler errors: {errors!r}\nemulator log:\n{emulator.log()}"
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("telegram")]
    assert problems == [], [r.getMessage() for r in problems]


async def test_command_reply_button_and_edit(
    running_app: Application[Any, Any, Any, Any, Any, Any], telegram_user: EmulatorClient
) -> None:
    await telegram_user.send_message("/start hello")
    reply = await telegram_user.wait_for_reply("pong")
    assert reply.text == "pong hello"
    assert [[b["text"] for b in row] for row in reply.buttons] == [["Press me"]]

    await telegram_user.press_button(reply, "Press me")
    edited = await telegram_user.wait_for_message_state(reply.message_id, lambda m: m.text != "pong hello")
    assert edited.text == "Test pressed pressed"
    assert edited.buttons == []  # an edit without reply_markup removes the keyboard, as in Telegram
    answer = await telegram_user.wait_for_callback_answer()
    assert answer["text"] == "clicked!"

    edit_result = running_app.bot_data["edit_result"]
    assert isinstance(edit_result, Message)
    assert (edit_result.message_id, edit_result.text) == (reply.message_id, "Test pressed pressed")

    # each update is handled once: a second command gets exactly one more reply
    await telegram_user.send_command("start", "again")
    await telegram_user.wait_for_reply("pong again")
    assert [m.text for m in await telegram_user.bot_messages()] == ["Test pressed pressed", "pong again"]
    assert running_app.bot_data["starts"] == 2


async def test_two_users_have_separate_chats(
    running_app: Application[Any, Any, Any, Any, Any, Any], telegram_user: EmulatorClient
) -> None:
    async with telegram_user.as_user(2002, first_name="Other") as other:
        await other.send_command("start", "from", "other")
        await telegram_user.send_command("start", "mine")
        assert (await other.wait_for_reply()).text == "pong from other"
        assert (await telegram_user.wait_for_reply()).text == "pong mine"
    assert [m.text for m in await telegram_user.bot_messages()] == ["pong mine"]


async def test_bot_api_answers_parse(
    emulator: Emulator, bot_token: str, telegram_user: EmulatorClient
) -> None:
    """EmulatorRequest's fixes, one Bot API call each."""
    bot = Bot(
        bot_token,
        base_url=emulator.bot_base_url,
        base_file_url=emulator.bot_base_file_url,
        request=EmulatorRequest(),
        get_updates_request=EmulatorRequest(),
    )
    async with bot:
        assert bot.bot.is_bot and bot.username == "TestNameBot"  # getMe lacks is_bot

        no_preview = LinkPreviewOptions(is_disabled=True)  # echoed back as a JSON string
        sent = await bot.send_message(telegram_user.chat_id, "hi", link_preview_options=no_preview)
        html_sent = await bot.send_message(telegram_user.chat_id, "<b>a &lt; b</b>", parse_mode="HTML")
        seen = await telegram_user.wait_for_reply("a < b")
        assert (seen.message_id, seen.text, seen.visible_text) == (
            html_sent.message_id,
            "<b>a &lt; b</b>",
            "a < b",
        )
        assert sent.text == "hi" and sent.chat.id == telegram_user.chat_id
        assert sent.link_preview_options == no_preview
        assert abs(sent.date.timestamp() - time.time()) < 60  # milliseconds -> seconds

        assert await bot.delete_message(telegram_user.chat_id, sent.message_id) is True
        assert [m.message_id for m in await telegram_user.bot_messages()] == [html_sent.message_id]
        with pytest.raises(BadRequest, match="wasn't found"):  # HTTP 200 ok:false
            await bot.delete_message(telegram_user.chat_id, sent.message_id)

        assert await bot.set_my_commands([("start", "Start")]) is True  # answered locally
        with pytest.raises(NetworkError, match="not supported"):  # 500 from the emulator
            await bot.send_dice(telegram_user.chat_id)

        await telegram_user.send_message("pending")
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates() == ()

        await telegram_user.send_message("one")
        (update,) = await bot.get_updates()
        assert update.message is not None and update.message.text == "one"
        assert (
            update.message.from_user is not None and update.message.from_user.id == telegram_user.user["id"]
        )


def test_get_updates_drops_confirmed_updates() -> None:
    body = {"ok": True, "result": [{"update_id": 4, "message": {}}, {"update_id": 5, "message": {}}]}
    status, fixed = fix_response("getUpdates", {"offset": 5}, 200, body)
    assert status == 200 and [u["update_id"] for u in fixed["result"]] == [5]


def test_callback_query_gets_chat_instance_and_seconds() -> None:
    query = {"id": "1", "from": {"id": 1}, "data": "x"}
    message = {"message_id": 3, "date": 1_700_000_000_123, "chat": {"id": 7, "type": "private"}}
    body = {"ok": True, "result": [{"update_id": 1, "callback_query": {**query, "message": message}}]}
    _, fixed = fix_response("getUpdates", {}, 200, body)
    fixed_query = fixed["result"][0]["callback_query"]
    assert fixed_query["chat_instance"] == "emulator-7"
    assert fixed_query["message"]["date"] == 1_700_000_000
