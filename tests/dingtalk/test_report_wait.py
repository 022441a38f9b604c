"""The 汇报 link's wait on DingTalk: /rep N alone, then the person's next text within 30 minutes is the report.

The wait is kept on the contact in the database, so a restarted `duban run` (a new CommandCore on a new engine)
or a second instance takes the text as the report, and only once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from bot.core.commands import Clock, CommandCore, Sender
from duban.config import Settings
from duban.db import make_engine
from duban.migrate import current_revision, head_revision, upgrade
from duban.seeding import load_seed
from duban.services import reminders
from models import Contact, Milestone, Notification, ProgressReport, Task
from tests.dingtalk.test_commands import NOW, WANG, invite, reminder_for, text_of

ZHAO = Sender("dingtalk", "staff-003")  # a contact of another department of the same county
PROMPT = "汇报 附件-34 {title}：请直接发送进度，例如“完成60%，已开工”或“已完成”。"
HINT = "汇报进度：发送“汇报”、“任务”列表中的编号和进度，例如“汇报 2 完成60%，已开工”。"


class County:
    """`duban run` on DingTalk as the tests drive it: one clock, and a process that can be restarted."""

    def __init__(self, database_url: str, engine: Engine) -> None:
        self.database_url = database_url
        self.now = NOW
        self.engines = [engine]
        self.core = self.start(engine)

    def start(self, engine: Engine) -> CommandCore:
        return CommandCore(session=lambda: Session(engine), clock=Clock(Settings(), lambda: self.now))

    def restart(self) -> CommandCore:
        """A new process: a new engine and a new core, nothing kept in memory."""
        self.engines.append(make_engine(self.database_url))
        self.core = self.start(self.engines[-1])
        return self.core

    def say(self, sender: Sender, typed: str) -> str:
        return text_of(self.core.handle(sender, typed))


@pytest.fixture
def county(database_url: str, engine: Engine) -> Iterator[County]:
    with Session(engine) as session:
        load_seed(session=session)
    county = County(database_url, engine)
    county.say(WANG, invite(engine, "区科技局"))
    yield county
    for other in county.engines[1:]:
        other.dispose()


def reports(engine: Engine) -> list[tuple[str, str]]:
    """(task, note) of every report recorded, oldest first."""
    with Session(engine) as session:
        rows = session.exec(
            select(Task.ref, ProgressReport.note)
            .join(Milestone, Milestone.task_id == Task.id)  # type: ignore[arg-type]
            .join(ProgressReport, ProgressReport.milestone_id == Milestone.id)  # type: ignore[arg-type]
            .order_by(ProgressReport.id)  # type: ignore[arg-type]
        ).all()
        return [(ref, note) for ref, note in rows]


def title_of(engine: Engine, task_ref: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Task.title).where(Task.ref == task_ref)).first() or ""


def test_the_text_after_the_prompt_is_the_report_after_a_restart(county: County, engine: Engine) -> None:
    number = reminder_for(engine, "staff-001", "附件-34")
    assert county.say(WANG, f"/rep {number}") == PROMPT.format(title=title_of(engine, "附件-34"))

    county.restart()
    answer = county.say(WANG, "完成60%，已开工")

    assert answer.splitlines()[2:5] == ["状态：正常推进", "进度：60%", "备注：已开工"]
    assert reports(engine) == [("附件-34", "已开工")]
    # the wait is spent: the next text is no report, on this process or another
    assert county.say(WANG, "完成70%") == HINT
    assert county.restart() and county.say(WANG, "完成70%") == HINT
    assert len(reports(engine)) == 1


@pytest.mark.parametrize(
    ("later", "taken"),
    [(dt.timedelta(minutes=30), True), (dt.timedelta(minutes=30, seconds=1), False)],
)
def test_the_wait_lasts_30_minutes(county: County, engine: Engine, later: dt.timedelta, taken: bool) -> None:
    number = reminder_for(engine, "staff-001", "附件-34")
    county.say(WANG, f"/rep {number}")

    county.now = NOW + later
    county.restart()
    answer = county.say(WANG, "完成60%，已开工")

    if taken:
        assert answer.splitlines()[2:5] == ["状态：正常推进", "进度：60%", "备注：已开工"]
        assert reports(engine) == [("附件-34", "已开工")]
    else:
        assert answer == HINT and reports(engine) == []
        assert county.say(WANG, "完成60%，已开工") == HINT  # an expired wait is gone, not waiting on


def test_another_persons_text_never_takes_someone_elses_wait(county: County, engine: Engine) -> None:
    county.say(ZHAO, invite(engine, "区教体局"))
    number = reminder_for(engine, "staff-001", "附件-34")
    county.say(WANG, f"/rep {number}")

    assert county.say(ZHAO, "完成60%，已开工") == HINT
    # not their reminder, so not their wait either
    assert county.say(ZHAO, f"/rep {number}") == "抱歉，您无权使用此功能。"
    assert reports(engine) == []

    county.restart()
    answer = county.say(WANG, "完成80%")  # Wang's wait was left alone
    assert answer.splitlines()[2:5] == ["状态：正常推进", "进度：80%", "备注：—"]
    assert reports(engine) == [("附件-34", "")]


def test_a_new_prompt_replaces_the_old_wait(county: County, engine: Engine) -> None:
    first = reminder_for(engine, "staff-001", "附件-34")
    second = reminder_for(engine, "staff-001", "（七）")
    county.say(WANG, f"/rep {first}")
    assert county.say(WANG, f"/rep {second}").startswith("汇报 （七） ")

    county.restart()
    county.say(WANG, "完成60%")

    assert reports(engine) == [("（七）", "")]


@pytest.mark.parametrize("typed", ["任务", "/unknown", "/rep abc"])
def test_any_other_next_text_ends_the_wait_as_before(county: County, engine: Engine, typed: str) -> None:
    number = reminder_for(engine, "staff-001", "附件-34")
    county.say(WANG, f"/rep {number}")

    county.say(WANG, typed)

    assert county.say(WANG, "完成60%") == HINT and reports(engine) == []


def test_a_refused_report_ends_the_wait_too(county: County, engine: Engine) -> None:
    number = reminder_for(engine, "staff-001", "附件-34")
    county.say(WANG, f"/rep {number}")

    assert county.say(WANG, "完成160%") == "百分比应在 0 到 100 之间，未保存任何内容。"

    assert county.say(WANG, "完成60%") == HINT and reports(engine) == []


def test_of_two_instances_that_read_the_wait_only_one_takes_it(county: County, engine: Engine) -> None:
    number = reminder_for(engine, "staff-001", "附件-34")
    county.say(WANG, f"/rep {number}")
    other = make_engine(county.database_url)
    try:
        with Session(engine) as one, Session(other) as two:
            mine = one.exec(select(Contact).where(Contact.dingtalk_user_id == "staff-001")).one()
            theirs = two.exec(select(Contact).where(Contact.dingtalk_user_id == "staff-001")).one()
            assert theirs.report_prompt_reminder_id == number  # both have read the wait

            assert reminders.take_awaited_report(session=one, contact=mine, now=NOW) == number
            one.commit()
            assert reminders.take_awaited_report(session=two, contact=theirs, now=NOW) is None
            two.commit()
    finally:
        other.dispose()


def test_0009_adds_the_wait_to_every_contact_and_keeps_them(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO department (id, name, region) VALUES (1, '区教体局', '淄博市淄川区')")
        )
        connection.execute(
            text(
                "INSERT INTO contact (id, department_id, name, role, dingtalk_user_id, language, active)"
                " VALUES (7, 1, '王老师', 'contact', 'staff-001', 'zh_CN', true)"
            )
        )
    upgrade(engine)

    assert current_revision(engine) == head_revision()
    with Session(engine) as session:
        contact = session.get(Contact, 7)
        assert contact is not None
        assert (contact.name, contact.dingtalk_user_id) == ("王老师", "staff-001")
        assert (contact.report_prompt_reminder_id, contact.report_prompt_until) == (None, None)
        assert session.exec(select(Notification)).all() == []
    engine.dispose()
