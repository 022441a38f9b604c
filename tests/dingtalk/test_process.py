"""The DingTalk channel as a real process, configured only by the environment, against the stand-in: `duban run`
with no Telegram token (the channel, the scheduler and the dispatcher in one process) and the channel alone
(`python -m bot.dingtalk.app`): join with the code `duban invite` printed, see tasks, a stranger learns nothing,
SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from typing import IO

import httpx
import pytest

from bot.dingtalk import stream
from bot.telegram.webhook import SECRET_HEADER
from duban import redaction
from duban.cli import main
from duban.config import get_settings
from tests.standins.dingtalk import DingTalkStandIn


@pytest.mark.parametrize(
    "command",
    [["-c", "import sys; from duban.cli import main; sys.exit(main(['run']))"], ["-m", "bot.dingtalk.app"]],
    ids=["duban run", "alone"],
)
async def test_the_channel_process_answers_through_the_stand_in(
    command: list[str], cli_env: str, standin: DingTalkStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    assert main(["invite", "--department", "区科技局"]) == 0
    code = capsys.readouterr().out.splitlines()[-1]  # neither channel set here: the link, then the code
    env = {
        **{k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"},
        "DUBAN_DINGTALK_CLIENT_ID": standin.client_id,
        "DUBAN_DINGTALK_CLIENT_SECRET": standin.client_secret,
        "DUBAN_DINGTALK_API_BASE": standin.url,
        # the SDK's own variable too, read at its import: should any SDK helper ever run, it stays on loopback
        "DINGTALK_OPENAPI_ENDPOINT": standin.url,
    }
    process = subprocess.Popen([sys.executable, *command], env=env, stderr=subprocess.PIPE, text=True)
    try:
        await standin.wait_connected(timeout=30)

        standin.push_robot_text("staff-001", code)
        welcome = await standin.next_sent(timeout=10)
        assert welcome["userIds"] == ["staff-001"]
        assert welcome["msgParam"]["text"].startswith("#### 欢迎！您现在是区科技局的联络员。")

        standin.push_robot_text("staff-001", "任务")
        tasks = await standin.next_sent(timeout=10)
        assert tasks["msgParam"]["text"].startswith("#### 未完成的时间节点")

        standin.push_robot_text("staff-003", "逾期")
        refused = await standin.next_sent(timeout=10)
        assert refused["userIds"] == ["staff-003"]
        assert (
            refused["msgParam"]["text"]
            == "#### 您好！这里是督办提醒机器人。您尚未加入：请把教育局发给您的邀请码发送给我。"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=15)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


# ---------------------------------------------------------------- what `duban run` says


class Lines:
    """A process's stderr, line by line, read in a thread so a test waits with a deadline, never forever."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next(self, timeout: float = 30) -> str | None:
        """The next line; None at the end of the stream."""
        return self._queue.get(timeout=timeout)

    def rest(self, timeout: float = 30) -> list[str]:
        lines = []
        while (line := self.next(timeout)) is not None:
            lines.append(line)
        return lines


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dingtalk_env(standin_url: str, client_id: str, secret: str, **more: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"},
        "DUBAN_DINGTALK_CLIENT_ID": client_id,
        "DUBAN_DINGTALK_CLIENT_SECRET": secret,
        "DUBAN_DINGTALK_API_BASE": standin_url,
        "DINGTALK_OPENAPI_ENDPOINT": standin_url,
        "DUBAN_WEB_BASE_URL": "https://duban.example.gov.cn",
        **more,
    }


STARTED = {
    "zh_CN": [
        "钉钉：Stream 已连接（{gateway}）",
        "网页端：监听 http://{listen}/（对外地址 https://duban.example.gov.cn）；健康检查 /healthz",
        "调度：本实例为主（排定提醒、发送消息、推送周报）",
        "数据库：{database}",
    ],
    "en": [
        "DingTalk: Stream connected ({gateway})",
        "Dashboard: listening on http://{listen}/ (public address https://duban.example.gov.cn); health check at "
        "/healthz",
        "Scheduler: this instance leads (plans reminders, sends, posts digests)",
        "Database: {database}",
    ],
}
STOPPED = {"zh_CN": "督办已停止。", "en": "duban stopped"}
HEALTH_ALONE = "健康检查：监听 http://{listen}/healthz"  # --listen without a dashboard


@pytest.mark.parametrize(
    ("language", "option"),
    [("zh_CN", "--web-listen"), ("en", "--web-listen"), ("zh_CN", "--listen")],
    ids=["chinese", "english", "health check alone"],
)
async def test_run_says_each_channel_and_service_at_start_and_one_line_at_stop(
    language: str, option: str, cli_env: str, standin: DingTalkStandIn
) -> None:
    assert main(["seed"]) == 0
    listen = f"127.0.0.1:{_free_port()}"
    env = _dingtalk_env(
        standin.url,
        standin.client_id,
        standin.client_secret,
        DUBAN_LANGUAGE=language,
        DUBAN_WEBHOOK_SECRET="process-test-secret",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "duban", "run", option, listen],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(process)
    try:
        started = [lines.next() for _ in range(4)]
        async with httpx.AsyncClient(trust_env=False) as client:
            health = await client.get(f"http://{listen}/healthz")
            details = await client.get(
                f"http://{listen}/healthz", headers={SECRET_HEADER: "process-test-secret"}
            )
    finally:
        process.send_signal(signal.SIGTERM)
        rest = lines.rest()
        process.wait(timeout=15)

    expected = STARTED[language][:]
    if option == "--listen":
        expected[1] = HEALTH_ALONE
    assert started == [
        line.format(gateway=standin.url, listen=listen, database=redaction.database_url(cli_env))
        for line in expected
    ]
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert {k: v for k, v in details.json().items() if k != "instance"} == {
        "database": "ok",
        "scheduler": "running",
        "leader": True,
        "dingtalk": "connected",
    }
    assert rest == [STOPPED[language]]
    assert process.returncode == 0


def test_a_signal_while_connecting_stops_with_one_line(cli_env: str) -> None:
    """Ctrl-C in the first seconds (here: while DingTalk is still being tried) is a clean stop, not a traceback."""
    assert main(["seed"]) == 0
    env = _dingtalk_env(f"http://127.0.0.1:{_free_port()}", "dingstandinapp", "standin-secret")
    process = subprocess.Popen(
        [sys.executable, "-m", "duban", "run"], env=env, stderr=subprocess.PIPE, text=True
    )
    lines = Lines(process)
    try:
        first = lines.next()  # the first failed try: the process is starting
    finally:
        process.send_signal(signal.SIGINT)
        rest = lines.rest()
        process.wait(timeout=15)
    assert first is not None and first.startswith("无法连接钉钉 Stream 网关（")
    assert first.endswith("；第 1 次，共 6 次，1 秒后重试")
    assert rest == ["督办已停止。"]
    assert process.returncode == 0


def test_a_port_in_use_is_one_line_and_exit_1(
    cli_env: str,
    standin: DingTalkStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    for name, value in _dingtalk_env(standin.url, standin.client_id, standin.client_secret).items():
        if name.startswith("DUBAN_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--web-listen", f"127.0.0.1:{port}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert (out, err) == (
        "",
        f"端口 {port}（127.0.0.1:{port}）已被其他程序占用：请先停止该程序，或用 --listen 或 --web-listen 主机:端口 "
        "给 duban run 换一个端口\n",
    )
    assert standin.recorded.connections_opened == []  # refused before anything connected


def test_dingtalk_unreachable_at_start_is_tried_six_times_then_one_line_and_exit_1(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(stream, "reconnect_pause", pause)
    gateway = f"http://127.0.0.1:{_free_port()}"  # nobody listens there
    for name, value in _dingtalk_env(gateway, "dingstandinapp", "standin-secret").items():
        if name.startswith("DUBAN_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    code = main(["run"])

    out, err = capsys.readouterr()
    *tries, last = err.splitlines()
    assert code == 1
    assert out == ""
    assert [line.split("）；")[1] for line in tries] == [
        f"第 {n} 次，共 6 次，{w:g} 秒后重试" for n, w in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16))
    ]
    assert all(line.startswith("无法连接钉钉 Stream 网关（") for line in tries)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert last.startswith("尝试 6 次仍无法连接钉钉 Stream 网关（")
    assert last.endswith("请检查网络（需能以 HTTPS 和 WSS 访问 api.dingtalk.com）或 DUBAN_DINGTALK_API_BASE")
