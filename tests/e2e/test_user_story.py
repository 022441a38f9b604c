"""A user story against a real Bot API emulator, with `duban run` as its own process.

A coordinator is invited from the command line and invites a department contact from the chat; the contact
joins, lists their tasks, answers a reminder with "已完成60%", and the coordinator's /status shows the report.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from duban.config import ENV_FILE_VARIABLE
from duban.db import make_engine
from models import Contact, ContactRole, Milestone, Notification, Plan, ProgressReport, Task
from tests.e2e.conftest import Emulator, EmulatorClient

pytestmark = pytest.mark.e2e
DUBAN = [sys.executable, "-m", "duban.cli"]


@pytest.fixture
def duban_env(tmp_path: Path, bot_token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_") or k == ENV_FILE_VARIABLE}
    env.update(
        {
            "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'story.db'}",
            "DUBAN_STATE_DIR": str(tmp_path / "state"),
            "DUBAN_DISPATCH_INTERVAL_SECONDS": "1",
            "DUBAN_BOT_USERNAME": "duban_story_bot",
            "TELEGRAM_BOT_TOKEN": bot_token,
        }
    )
    return env


def _duban(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*DUBAN, *args], env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


@pytest.fixture
def running_bot(
    emulator: Emulator, duban_env: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    _duban(duban_env, "seed")
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen(
        [*DUBAN, "run", "--base-url", emulator.url, "--emulator", "--poll-interval", "0.1"],
        env=duban_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    assert "Traceback" not in (tmp_path / "bot.log").read_text(errors="replace")


def _start_token(text: str) -> str:
    match = re.search(r"\?start=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def test_coordinator_invites_contact_reports_and_status_shows_it(
    emulator: Emulator, telegram_user: EmulatorClient, duban_env: dict[str, str], running_bot: object
) -> None:
    coordinator_link = _duban(
        duban_env,
        "invite",
        "--department",
        "区教体局",
        "--role",
        "coordinator",
        "--plan",
        "zibo-zichuan-2023",
    )
    async with telegram_user.as_user(2002) as coordinator:
        await coordinator.send_command("start", _start_token(coordinator_link))
        await coordinator.wait_for_reply("欢迎！您现在是区教体局的督办人员。")

        await coordinator.send_command("invite", "区教体局", "contact")
        invitation = await coordinator.wait_for_reply("start=")
        contact_user = telegram_user
        await contact_user.send_command("start", _start_token(invitation.text or ""))
        await contact_user.wait_for_reply("欢迎！您现在是区教体局的联络员。")

        await contact_user.send_command("tasks")
        tasks = await contact_user.wait_for_reply("未完成的时间节点")
        assert "（三） 实施乡村学校办学条件提档升级行动" in tasks.visible_text

        # the planner's part: a reminder due now, in the outbox; the running bot's dispatcher sends it
        engine = make_engine(duban_env["DUBAN_DATABASE_URL"])
        with Session(engine) as session:
            contact = session.exec(
                select(Contact).where(Contact.role == ContactRole.contact, Contact.telegram_user_id == 1001)
            ).one()
            milestone = session.exec(
                select(Milestone)
                .join(Task)
                .join(Plan)
                .where(Plan.key == "zibo-zichuan-2023", Task.ref == "（三）")
            ).one()
            milestone_id = milestone.id
            # what the planner writes, due now (added directly: enqueue would hold it until 08:00 at night)
            session.add(
                Notification(
                    idempotency_key="story:reminder",
                    kind="reminder",
                    contact_id=contact.id,
                    department_id=contact.department_id,
                    milestone_id=milestone_id,
                    instance_due_on=milestone.due_on,
                    payload={"days": 30, "late_since": None},
                    due_at=dt.datetime.now(dt.UTC),
                )
            )
            session.commit()
        reminder = await contact_user.wait_for_reply("⏰ 督办提醒")
        assert "1. （三） 实施乡村学校办学条件提档升级行动" in reminder.visible_text

        await contact_user.send_reply(reminder, "已完成60%")
        confirmation = await contact_user.wait_for_reply("已为 （三） 实施乡村学校办学条件提档升级行动 保存")
        assert "进度：60%" in confirmation.visible_text

        with Session(engine) as session:
            reports = session.exec(select(ProgressReport)).all()
            assert [(r.milestone_id, r.percent) for r in reports] == [(milestone_id, 60)]
        engine.dispose()

        await coordinator.send_command("status")
        status = await coordinator.wait_for_reply("进度（截至")
        assert "已汇报 1" in status.visible_text
        assert "安丘" not in status.visible_text
