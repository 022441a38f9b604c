"""The weekly digest for a fixed dataset: its text, its chart, once per lead per week."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.i18n import gettext_for
from bot.telegram import views
from duban.chart import ChartRow
from duban.services.digest import build_digest
from duban.services.progress import record_report
from models import ContactRole, Milestone, Notification, Plan, ReportStatus, Task
from models.planning import record_gap
from scheduler.digest_job import chart_rows, plan_digests
from tests.scheduler.conftest import SHANGHAI, local
from tests.zones import DEFAULT_TZ

MONDAY = local("2026-01-05", 9)


def _milestone(session: Session, ref: str) -> Milestone:
    return session.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "jinan-changqing-2023", Task.ref == ref)
    ).first()  # type: ignore[return-value]


def test_the_digest_text_for_a_fixed_dataset(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教育体育局", 1001, region="济南市长清区")
    lead = join("区教育体育局", 3003, ContactRole.lead, region="济南市长清区")
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=_milestone(seeded, "（三）").id,
        status=ReportStatus.on_track,
        percent=40,
        note="",
        now=local("2026-01-02"),
        tz=DEFAULT_TZ,
    )
    digest = build_digest(session=seeded, reader=lead, now=MONDAY, today=MONDAY.date())
    text = "\n".join(views.digest_entries(gettext_for("zh_CN"), digest))
    assert text == (
        "<b>每周简报（2025-12-29 至 2026-01-05）</b>\n"
        "<b>济南市长清区建设乡村教育振兴先行区专项工作方案</b>\n"
        "已销号 0 · 已汇报 1 · 未汇报 1 · 已逾期 2\n"
        "🟢 正常 1 (+1) · 🟡 滞后 0 · 🔴 逾期或受阻 2 (+1) · ⚪ 未汇报 1 (-2)\n"
        "本周收到汇报：1 条\n"
        "已逾期：\n"
        "· （一） 实施乡村全环境立德树人工程 — 区教育体育局，逾期 5 天\n"
        "· （八） 打造乡村学校办学特色 — 区教育体育局，逾期 5 天\n"
        "所有部门都已回复最近一次提醒。"
    )


def test_each_lead_gets_one_digest_and_one_chart_a_week(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 3003, ContactRole.lead)
    assert plan_digests(session=seeded, now=MONDAY, tz=SHANGHAI) == 2
    assert plan_digests(session=seeded, now=MONDAY + dt.timedelta(hours=2), tz=SHANGHAI) == 0
    chart = seeded.exec(select(Notification).where(Notification.kind == "digest_chart")).one()
    photo = message_for(seeded, chart, tz=SHANGHAI, words=TELEGRAM).image  # drawn when it is sent
    assert photo is not None and photo.startswith(b"\x89PNG")
    page = seeded.exec(select(Notification).where(Notification.kind == "digest")).one()
    assert page.payload == {"today": "2026-01-05"}
    assert (
        message_for(seeded, page, tz=SHANGHAI, words=TELEGRAM).title == "每周简报（2025-12-29 至 2026-01-05）"
    )


def test_chart_rows_count_pace_by_lead_department(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    lead = join("区教育体育局", 3003, ContactRole.lead, region="济南市长清区")
    rows = chart_rows(session=seeded, reader=lead, today=MONDAY.date())
    assert rows == [ChartRow(label="区教育体育局", green=0, amber=0, red=2, grey=2, done=0)]


def test_the_digest_tells_a_stop_of_the_planner_with_what_it_cost_the_readers_plans(
    seeded: Session, join
) -> None:  # type: ignore[no-untyped-def]
    """A stop longer than the catch-up window cost reminders that never went out: the lead hears of it in the
    week's digest, counted for their plans only, from the planning_gap row."""
    lead = join("区教育体育局", 3003, ContactRole.lead, region="济南市长清区")
    record_gap(
        seeded,
        "plan",
        dt.date(2025, 12, 10),
        dt.date(2025, 12, 20),
        {"jinan-changqing-2023": 4, "anqiu-2023": 9},
        MONDAY,
    )
    seeded.commit()

    digest = build_digest(session=seeded, reader=lead, now=MONDAY, today=MONDAY.date())

    lines = views.digest_entries(gettext_for("zh_CN"), digest)
    assert lines[1] == "系统 2025-12-10 至 2025-12-20 未运行，期间 4 条提醒未发出。"
    assert "系统" not in "\n".join(
        views.digest_entries(
            gettext_for("zh_CN"),
            build_digest(session=seeded, reader=lead, now=local("2026-03-02", 9), today=dt.date(2026, 3, 2)),
        )
    )  # told for 30 days after the stop ended
