"""`duban run --web-listen` in polling mode: one process polls the Bot API emulator and serves the dashboard, so a
coordinator's /web link works without a public HTTPS address."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from duban.config import ENV_FILE_VARIABLE
from tests.e2e.conftest import Emulator, EmulatorClient, _free_port
from tests.e2e.test_user_story import DUBAN, _duban, _start_token

pytestmark = pytest.mark.e2e


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "duban run ended before the dashboard listened"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def polling_with_dashboard(
    emulator: Emulator, bot_token: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_") or k == ENV_FILE_VARIABLE}
    env.update(
        {
            "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
            "DUBAN_STATE_DIR": str(tmp_path / "state"),
            "DUBAN_BOT_USERNAME": "duban_web_bot",
            "DUBAN_WEB_BASE_URL": base,
            "TELEGRAM_BOT_TOKEN": bot_token,
        }
    )
    _duban(env, "seed")
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen(
        [*DUBAN, "run", "--base-url", emulator.url, "--emulator", "--poll-interval", "0.1"]
        + ["--web-listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        yield base, env
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=15) == 0  # a signal ends the server and the polling together
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    said = (tmp_path / "bot.log").read_text(errors="replace").splitlines()
    assert said[:4] == [
        "Telegram：已连接，机器人 @TestNameBot，轮询接收消息",  # the name telegram-test-api answers getMe with
        f"网页端：监听 http://127.0.0.1:{port}/（对外地址 {base}）；健康检查 /healthz",
        "调度：本实例为主（排定提醒、发送消息、推送周报）",
        f"数据库：sqlite:///{tmp_path / 'web.db'}",
    ]
    assert said[-1] == "督办已停止。"


async def test_a_web_link_from_the_chat_opens_the_dashboard_of_the_polling_bot(
    telegram_user: EmulatorClient, polling_with_dashboard: tuple[str, dict[str, str]]
) -> None:
    base, env = polling_with_dashboard
    link = _duban(
        env, "invite", "--department", "区教体局", "--role", "coordinator", "--plan", "zibo-zichuan-2023"
    )
    async with telegram_user.as_user(2002) as coordinator:
        await coordinator.send_command("start", _start_token(link))
        await coordinator.wait_for_reply("欢迎！您现在是区教体局的督办人员。")
        await coordinator.send_command("web")
        answer = await coordinator.wait_for_reply("/login/")
    found = re.search(re.escape(base) + r"/login/[A-Za-z0-9_-]+", html.unescape(answer.visible_text))
    assert found, answer.visible_text

    async with httpx.AsyncClient(base_url=base) as browser:
        health = await browser.get("/healthz")  # polling mode has a health check too, beside the dashboard
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        confirm = await browser.get(found.group(0))
        assert confirm.status_code == 200
        signed_in = await browser.post(found.group(0))
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        overview = await browser.get("/")
        assert overview.status_code == 200
        assert "淄川区推进乡村教育振兴工作方案" in overview.text and "安丘" not in overview.text
        again = await httpx.AsyncClient(base_url=base).post(found.group(0))
        assert again.status_code != 303  # single use: the same link does not sign in twice
