"""A half-finished /report survives a restart; evidence; the digest; every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine

from bot.i18n import gettext_for
from bot.telegram import views
from models import ContactRole, ProgressReport
from tests.bot.conftest import FakeUser, Harness, build_harness

CONTACT = FakeUser(1001)
LEAD = FakeUser(5005)


async def test_a_half_finished_report_survives_a_restart(
    harness: Harness, engine: Engine, tmp_path: Path
) -> None:
    harness.join(CONTACT, "区科技局")
    await harness.say(CONTACT, "/report")
    await harness.press(CONTACT, harness.buttons()[0])
    await harness.press(CONTACT, "rp:s:on_track")
    await harness.app.shutdown()  # the process stops: persistence is flushed

    restarted = build_harness(engine, tmp_path, request=harness.request, clock_value=harness.clock_value)
    await restarted.app.initialize()
    harness.app = restarted.app
    await harness.press(CONTACT, "rp:p:30")
    answers = await harness.say(CONTACT, "/skip")
    assert answers[0].endswith("状态：正常推进\n进度：30%\n备注：—\n识别有误？请在 10 分钟内点击“撤销”。")
    assert [(r.status, r.percent) for r in harness.rows(ProgressReport)] == [("on_track", 30)]
    assert restarted.errors == []


async def test_a_photo_reply_is_kept_as_evidence(harness: Harness) -> None:
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=880)
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large-photo", "file_unique_id": "l", "width": 900, "height": 900},
    ]
    message = harness.message_payload(CONTACT, "", reply_to=880, photo=photo)
    del message["text"]
    answers = await harness._process({"message": message}, CONTACT.id)
    assert answers == ["已为 （三） 实施乡村学校办学条件提档升级行动 保存佐证材料。"]
    assert [r.evidence_file_id for r in harness.rows(ProgressReport)] == ["large-photo"]


async def test_a_lead_reads_the_digest(harness: Harness) -> None:
    harness.join(LEAD, "区教体局", ContactRole.lead)
    digest = (await harness.say(LEAD, "/digest"))[0]
    assert digest.startswith("<b>每周简报（")
    assert "<b>淄川区推进乡村教育振兴工作方案</b>" in digest
    assert await harness.say(LEAD, "/approve 1") == ["抱歉，您无权使用此功能。"]


def test_every_command_is_in_help_and_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    from bot.telegram import handlers
    from bot.telegram.app import register_handlers  # noqa: F401  (the registry the commands below come from)

    _ = gettext_for("zh_CN")
    in_help = {name for role in ContactRole for name, _text in views.commands_for(_, role)}
    handled = {name.removesuffix("_command") for name in dir(handlers) if name.endswith("_command")}
    handled -= {"unknown", "help"}
    assert handled <= in_help | {"help"}
    for command in in_help:
        assert re.search(rf"`/{command}\b", readme), command
