"""The percent parser reads ordinary replies the way a coordinator would, and asks when it cannot tell."""

from __future__ import annotations

import pytest

from bot.core.vocabulary import TELEGRAM
from bot.i18n import gettext_for
from bot.telegram import views
from duban.services.errors import InvalidInput
from duban.services.progress import parse_progress_text
from models import ReportStatus

DONE, ON_TRACK, AT_RISK, BLOCKED = (
    ReportStatus.done,
    ReportStatus.on_track,
    ReportStatus.at_risk,
    ReportStatus.blocked,
)

# text, status, percent, note: the note is the text less the clause that only names the percent
UNDERSTOOD = [
    ("完成60%", ON_TRACK, 60, ""),
    ("完成60%，已开工", ON_TRACK, 60, "已开工"),
    ("已完成60%，已开工", ON_TRACK, 60, "已开工"),  # 60% of the work is done, not the milestone
    ("已开工，完成60%，资金已到位", ON_TRACK, 60, "已开工，资金已到位"),
    ("已完成总工程量的60%", ON_TRACK, 60, "已完成总工程量的60%"),  # more than the percent: the clause stays
    ("进展顺利 60%", ON_TRACK, 60, "进展顺利 60%"),
    ("60％", ON_TRACK, 60, ""),
    ("进度：60%", ON_TRACK, 60, ""),
    ("１００％", ON_TRACK, 100, ""),  # full-width digits
    ("六成", ON_TRACK, 60, ""),
    ("完成六成，60%", ON_TRACK, 60, ""),  # the same value twice is one percent
    ("已完成", DONE, 100, ""),
    ("已完成100%", DONE, 100, ""),
    ("已完成，100%", DONE, 100, ""),
    ("全部完成", DONE, 100, ""),
    ("已办结", DONE, 100, ""),
    ("已完成99.5%", ON_TRACK, 99, ""),  # rounded down: only 100 is done
    ("进度99.9%", ON_TRACK, 99, ""),
    ("完成0.5%", ON_TRACK, 0, ""),
    ("0%", ON_TRACK, 0, ""),
    ("100%", ON_TRACK, 100, ""),  # a percent without 已完成 reports progress; only 已完成 asks for 销号
    # the one after 已完成/目前 is the progress; the note keeps the whole text, the other number with it
    ("原计划100%，目前已完成60%", ON_TRACK, 60, "原计划100%，目前已完成60%"),
    ("目前进度为70%，原定100%", ON_TRACK, 70, "目前进度为70%，原定100%"),
    ("年度目标100%，现已达到45%", ON_TRACK, 45, "年度目标100%，现已达到45%"),
    (
        "计划80%，目前估计已有60%",
        ON_TRACK,
        60,
        "计划80%，目前估计已有60%",
    ),  # four characters away still count
    ("进度：本月进度60%，年度计划80%", ON_TRACK, 60, "进度：本月进度60%，年度计划80%"),  # the nearest marker
    ("尚未完成，进度30%", ON_TRACK, 30, "尚未完成"),
    ("未全部完成", ON_TRACK, None, "未全部完成"),  # 全部完成 inside a negation is not done
    ("还没完成", ON_TRACK, None, "还没完成"),
    ("还未完成", ON_TRACK, None, "还未完成"),
    ("尚未完成", ON_TRACK, None, "尚未完成"),
    ("已完成，尚未验收", ON_TRACK, None, "已完成，尚未验收"),
    ("受阻，资金未到位", BLOCKED, None, "受阻，资金未到位"),
    ("进度滞后，完成40%", AT_RISK, 40, "进度滞后"),
    ("无变化", ON_TRACK, None, "无变化"),
    # done means done: the whole milestone, said plainly (a note may follow in its own clause)
    ("已完成。", DONE, 100, ""),
    ("已完成！", DONE, 100, ""),
    ("已完成了", DONE, 100, ""),
    ("完成了", DONE, 100, ""),
    ("已经完成", DONE, 100, ""),
    ("已全部完成", DONE, 100, ""),
    ("任务已完成", DONE, 100, "任务已完成"),
    ("我局已完成", DONE, 100, "我局已完成"),
    ("已完成任务", DONE, 100, "已完成任务"),
    ("已完成全年目标任务", DONE, 100, "已完成全年目标任务"),
    ("已完成验收", DONE, 100, "已完成验收"),  # 验收 is the last step: the milestone is done
    ("已完成竣工验收", DONE, 100, "已完成竣工验收"),
    ("已完成并通过验收", DONE, 100, "已完成并通过验收"),
    ("已完成，佐证材料已上传", DONE, 100, "已完成，佐证材料已上传"),
    ("已完成 佐证见附件", DONE, 100, "已完成 佐证见附件"),
    ("已完成百分之百", DONE, 100, ""),
    ("6/30前已完成", DONE, 100, "6/30前已完成"),  # a date, not a share
    ("已完成招标，已全部完成", DONE, 100, "已完成招标，已全部完成"),  # the whole, said once, is enough
    # a share of the work: progress, with the percent when the share is exact (rounded down, as every percent)
    ("已完成一半", ON_TRACK, 50, ""),
    ("完成了一半", ON_TRACK, 50, ""),
    ("已完成一半以上", ON_TRACK, 50, ""),
    ("一半已完成", ON_TRACK, 50, "一半已完成"),
    ("完成了三分之一", ON_TRACK, 33, ""),
    ("已完成三分之二", ON_TRACK, 66, ""),
    ("已完成1/3", ON_TRACK, 33, ""),
    ("已完成三成", ON_TRACK, 30, ""),
    ("已完成70%以上", ON_TRACK, 70, ""),
    ("已完成百分之五十", ON_TRACK, 50, ""),
    ("进度百分之六十五，已开工", ON_TRACK, 65, "已开工"),
    ("已完成过半", ON_TRACK, None, "已完成过半"),  # more than half, but how much more? no percent
    ("已完成过半数", ON_TRACK, None, "已完成过半数"),
    ("已完成近一半", ON_TRACK, None, "已完成近一半"),  # less than half: 50 would overstate it
    ("不到一半", ON_TRACK, None, "不到一半"),
    ("1/3已完成", ON_TRACK, None, "1/3已完成"),  # a share, but only 完成1/3 is surely one
    ("已完成部分", ON_TRACK, None, "已完成部分"),
    ("已完成部分工作", ON_TRACK, None, "已完成部分工作"),
    ("已完成大部分", ON_TRACK, None, "已完成大部分"),
    ("基本完成", ON_TRACK, None, "基本完成"),
    ("基本已完成", ON_TRACK, None, "基本已完成"),
    # a phase or a step on the way: progress, not the milestone
    ("已完成第一阶段", ON_TRACK, None, "已完成第一阶段"),
    ("完成了一期工程", ON_TRACK, None, "完成了一期工程"),
    ("一期工程已完成", ON_TRACK, None, "一期工程已完成"),
    ("第一批已完成，第二批正在推进", ON_TRACK, None, "第一批已完成，第二批正在推进"),
    ("已完成招标，正在施工", ON_TRACK, None, "已完成招标，正在施工"),
    ("已完成招标、设计", ON_TRACK, None, "已完成招标、设计"),
    ("已完成初步设计", ON_TRACK, None, "已完成初步设计"),
    ("已完成初步验收", ON_TRACK, None, "已完成初步验收"),
    ("已完成前期工作", ON_TRACK, None, "已完成前期工作"),
    ("已完成立项", ON_TRACK, None, "已完成立项"),
    ("已完成选址", ON_TRACK, None, "已完成选址"),
    ("已完成开工", ON_TRACK, None, "已完成开工"),
    ("已完成招标，进度30%", ON_TRACK, 30, "已完成招标"),
]


@pytest.mark.parametrize(("text", "status", "percent", "note"), UNDERSTOOD)
def test_a_reply_is_read_as_a_person_would(
    text: str, status: ReportStatus, percent: int | None, note: str
) -> None:
    parsed = parse_progress_text(text)
    assert (parsed.status, parsed.percent, parsed.note) == (status, percent, note)


# text, why it is refused
REFUSED = [
    ("已完成1100%", "percent_range"),
    ("完成1000%", "percent_range"),
    ("-5%", "percent_range"),
    ("完成-5%", "percent_range"),
    ("完成101%", "percent_range"),
    ("完成150%", "percent_range"),
    ("计划50%，实际40%", "percent_ambiguous"),  # two percents, nothing says which is the progress
    ("完成50%，完成60%", "percent_ambiguous"),  # both marked: still two
    ("计划80%，目前估计已有了60%", "percent_ambiguous"),  # five characters: too far to be the progress
    ("5-10%", "percent_ambiguous"),  # a range
    ("50%~60%", "percent_ambiguous"),
    ("", "empty"),
    ("   ", "empty"),
    ("完" * 2001, "too_long"),
    ("完成百分之一百五十", "percent_range"),
    # 已完成 of something that may be the milestone or a step of it: only the contact knows
    ("已完成整改", "done_unclear"),
    ("已完成验收准备", "done_unclear"),
    ("已完成整改，100%", "done_unclear"),
    ("已完成招标，已完成整改", "done_unclear"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_a_reply_that_cannot_be_read_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_progress_text(text)
    assert refused.value.reason == reason


@pytest.mark.parametrize("reason", sorted({reason for _, reason in REFUSED}))
def test_every_refusal_of_the_parser_is_explained_in_chinese(reason: str) -> None:
    chinese = views.invalid_input(gettext_for("zh_CN"), reason, TELEGRAM)
    assert chinese != views.invalid_input(gettext_for("en"), reason, TELEGRAM)


def test_the_note_keeps_the_text_without_control_characters() -> None:
    assert parse_progress_text("进展\x00顺利 60%\x1b").note == "进展顺利 60%"
