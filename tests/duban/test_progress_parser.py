"""The percent parser reads ordinary replies the way a coordinator would, and asks when it cannot tell."""

from __future__ import annotations

import pytest

from duban.services.errors import InvalidInput
from duban.services.progress import parse_progress_text
from models import ReportStatus

DONE, ON_TRACK, AT_RISK, BLOCKED = (
    ReportStatus.done,
    ReportStatus.on_track,
    ReportStatus.at_risk,
    ReportStatus.blocked,
)

# text, status, percent
UNDERSTOOD = [
    ("完成60%", ON_TRACK, 60),
    ("已完成60%，已开工", ON_TRACK, 60),  # 60% of the work is done, not the milestone
    ("60％", ON_TRACK, 60),
    ("１００％", ON_TRACK, 100),  # full-width digits
    ("六成", ON_TRACK, 60),
    ("完成六成，60%", ON_TRACK, 60),  # the same value twice is one percent
    ("已完成", DONE, 100),
    ("已完成100%", DONE, 100),
    ("全部完成", DONE, 100),
    ("已办结", DONE, 100),
    ("已完成99.5%", ON_TRACK, 99),  # rounded down: only 100 is done
    ("进度99.9%", ON_TRACK, 99),
    ("完成0.5%", ON_TRACK, 0),
    ("0%", ON_TRACK, 0),
    ("100%", ON_TRACK, 100),  # a percent without 已完成 reports progress; only 已完成 asks for 销号
    ("原计划100%，目前已完成60%", ON_TRACK, 60),  # the one after 已完成/目前 is the progress
    ("目前进度为70%，原定100%", ON_TRACK, 70),
    ("年度目标100%，现已达到45%", ON_TRACK, 45),
    ("计划80%，目前估计已有60%", ON_TRACK, 60),  # four characters between marker and number still count
    ("进度：本月进度60%，年度计划80%", ON_TRACK, 60),  # the marker nearest the number is the one measured
    ("尚未完成，进度30%", ON_TRACK, 30),
    ("未全部完成", ON_TRACK, None),  # 全部完成 inside a negation is not done
    ("还没完成", ON_TRACK, None),
    ("受阻，资金未到位", BLOCKED, None),
    ("进度滞后，完成40%", AT_RISK, 40),
    ("无变化", ON_TRACK, None),
]


@pytest.mark.parametrize(("text", "status", "percent"), UNDERSTOOD)
def test_a_reply_is_read_as_a_person_would(text: str, status: ReportStatus, percent: int | None) -> None:
    parsed = parse_progress_text(text)
    assert (parsed.status, parsed.percent, parsed.note) == (status, percent, text)


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
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_a_reply_that_cannot_be_read_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_progress_text(text)
    assert refused.value.reason == reason


def test_the_note_keeps_the_text_without_control_characters() -> None:
    assert parse_progress_text("进展\x00顺利 60%\x1b").note == "进展顺利 60%"
