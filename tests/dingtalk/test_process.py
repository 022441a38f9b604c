"""The DingTalk channel as a real process, configured only by the environment, against the stand-in: `duban run`
with no Telegram token (the channel, the scheduler and the dispatcher in one process) and the channel alone
(`python -m bot.dingtalk.app`): join with the code `duban invite` printed, see tasks, a stranger learns nothing,
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from duban.cli import main
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
