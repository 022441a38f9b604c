"""A DingTalk message redelivered does nothing twice: after a restart, on a second instance, or at the same moment.

DingTalk pushes a robot message again, with the same msgId, when it did not get the ack: the process died after
the message's change was committed, or the connection dropped. The msgId is stored with the change, in its
transaction (duban/services/inbound.py), so the redelivery finds it and neither acts nor answers; a crash before
the commit leaves neither, and the redelivery acts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from bot.core.commands import Clock, CommandCore, Sender
from duban.config import Settings
from duban.db import make_engine
from duban.seeding import load_seed
from models import (
    CloseoutRequest,
    CloseoutStatus,
    Contact,
    ContactRole,
    InboundMessage,
    Notification,
    ProgressReport,
)
from tests.dingtalk.test_commands import LI, NOW, WANG, invite, reminder_for, text_of
from tests.dingtalk.test_end_to_end import Robot, invitation_code
from tests.dingtalk.test_report_wait import reports
from tests.standins.dingtalk import DingTalkStandIn

CONFIRMED = [
    "节点：2025-12-31到期",
    "状态：正常推进",
    "进度：60%",
    "备注：已开工",
    "识别有误？请在 10 分钟内点击“撤销”。",
]
APPROVED = "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已批准，该节点已销号。"


class Instances:
    """`duban run` processes on one database: each has its own engine and command core (nothing shared in memory)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engines: list[Engine] = []

    def start(self, session: Callable[[Engine], Session] = Session) -> CommandCore:
        engine = make_engine(self.database_url)
        self.engines.append(engine)
        return CommandCore(session=lambda: session(engine), clock=Clock(Settings(), lambda: NOW))

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def instances(database_url: str, engine: Engine) -> Iterator[Instances]:
    with Session(engine) as session:
        load_seed(session=session)
    instances = Instances(database_url)
    yield instances
    instances.close()


def stored_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(InboundMessage.message_id)).all())


def closeouts(engine: Engine) -> list[CloseoutStatus]:
    with Session(engine) as session:
        return [c.status for c in session.exec(select(CloseoutRequest)).all()]


def lead_task_number(core: CommandCore, sender: Sender, task_ref: str) -> str:
    return next(
        line.split(".")[0]
        for line in text_of(core.handle(sender, "任务")).splitlines()
        if task_ref in line and "[牵头]" in line
    )


# ---- after a restart ------------------------------------------------------------------------------------------


async def test_a_report_redelivered_after_a_restart_is_stored_once_and_not_confirmed_again(
    standin: DingTalkStandIn, database_url: str, engine: Engine
) -> None:
    with Session(engine) as session:
        load_seed(session=session)
    first = Robot(standin, engine)
    running = asyncio.create_task(first.receiver.run())
    await standin.wait_connected()
    await first.say("staff-001", invitation_code(engine, "区科技局"))
    await first.say("staff-001", "任务")
    sent = standin.recorded.sent
    before = len(sent)
    message_id = standin.push_robot_text("staff-001", "汇报 1 完成60%，已开工")
    await standin.next_ack()
    await first.conversation.drain()
    [saved] = [s["msgParam"]["text"] for s in sent[before:]]
    assert "状态：正常推进  \n进度：60%  \n备注：已开工  \n" in saved
    # the process stops; DingTalk, missing the ack, pushes the message again to the next connection
    await first.receiver.stop()
    await asyncio.wait_for(running, 5)
    await first.api.aclose()

    other = make_engine(database_url)
    second = Robot(standin, other)  # a new process: a new engine, core, receiver, nothing kept in memory
    running = asyncio.create_task(second.receiver.run())
    try:
        await standin.wait_connections(2)
        before = len(sent)
        standin.redeliver(message_id)
        ack = await standin.next_ack()
        await second.conversation.drain()

        assert (ack["code"], ack["headers"]["messageId"]) == (200, message_id)
        assert sent[before:] == []  # no second confirmation, no refusal
        assert reports(engine) == [("附件-34", "已开工")]
        assert (
            f"msg{message_id}" in stored_ids(engine) and len(stored_ids(engine)) == 3
        )  # the join's, the first 任务's (it numbered the list) and this

        # a new message from the same person still acts
        [again] = await second.say("staff-001", "汇报 1 完成70%")
        assert "进度：70%  \n备注：—  \n" in again
        assert len(reports(engine)) == 2
    finally:
        await second.receiver.stop()
        await asyncio.wait_for(running, 5)
        await second.api.aclose()
        other.dispose()


def test_each_kind_of_change_is_made_once_whatever_the_redeliveries(
    instances: Instances, engine: Engine
) -> None:
    core = instances.start()
    code = invite(engine, "区教体局")
    joined = text_of(core.handle(WANG, code, "msg-join"))
    assert joined.startswith("欢迎！")
    core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator), "msg-li-join")
    number = lead_task_number(core, WANG, "（二）")
    requested = text_of(core.handle(WANG, f"汇报 {number} 已完成", "msg-done"))
    assert "已向督办人员提交销号申请（申请编号 1）。" in requested
    evidence = text_of(core.handle_file(WANG, "dingtalk:code-1", "msg-photo"))
    approved = text_of(core.handle(LI, "同意 1", "msg-approve"))
    assert approved == APPROVED

    restarted = instances.start()
    # each again, as DingTalk pushes them after a restart: nothing is said, nothing changes
    assert restarted.handle(WANG, code, "msg-join") == []  # not "this code is used"
    assert restarted.handle(WANG, f"汇报 {number} 已完成", "msg-done") == []
    assert restarted.handle_file(WANG, "dingtalk:code-2", "msg-photo") == []
    assert restarted.handle(LI, "同意 1", "msg-approve") == []  # not "already decided"

    with Session(engine) as session:
        [report] = session.exec(select(ProgressReport)).all()
        assert report.evidence_file_id == "dingtalk:code-1"
    assert evidence.startswith("已为 （二） ")
    assert closeouts(engine) == [CloseoutStatus.approved]
    assert sorted(stored_ids(engine)) == sorted(
        ["msg-join", "msg-li-join", "msg-done", "msg-photo", "msg-approve"]
    )
    # the very same text in a new message is a new message
    assert text_of(restarted.handle(LI, "同意 1", "msg-approve-again")) == "该销号申请已处理过。"


def test_the_text_a_wait_took_as_the_report_is_not_taken_again(instances: Instances, engine: Engine) -> None:
    core = instances.start()
    core.handle(WANG, invite(engine, "区科技局"))
    number = reminder_for(engine, "staff-001", "附件-34")
    core.handle(WANG, f"/rep {number}", "msg-prompt")
    assert text_of(core.handle(WANG, "完成60%，已开工", "msg-text")).splitlines()[1:] == CONFIRMED

    restarted = instances.start()
    assert restarted.handle(WANG, "完成60%，已开工", "msg-text") == []  # not a hint that there is no wait
    assert restarted.handle(WANG, f"/rep {number}", "msg-prompt") == []  # the wait is not set again
    assert reports(engine) == [("附件-34", "已开工")]
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.dingtalk_user_id == "staff-001")).one()
        assert contact.report_prompt_reminder_id is None


def test_what_changes_nothing_is_answered_again_and_leaves_no_id(
    instances: Instances, engine: Engine
) -> None:
    core = instances.start()
    core.handle(WANG, invite(engine, "区科技局"))
    core.handle(
        WANG, "任务"
    )  # the first list numbers the milestones (a change); a list again changes nothing
    listing = text_of(core.handle(WANG, "任务", "msg-tasks"))
    refused = text_of(core.handle(WANG, "汇报 1 完成160%", "msg-refused"))

    restarted = instances.start()
    assert text_of(restarted.handle(WANG, "任务", "msg-tasks")) == listing  # the same answer, no effect
    assert text_of(restarted.handle(WANG, "汇报 1 完成160%", "msg-refused")) == refused
    assert refused == "百分比应在 0 到 100 之间，未保存任何内容。"
    assert stored_ids(engine) == [] and reports(engine) == []


class Crash(Exception):
    """The process dies at the commit."""


def crashing(engine: Engine) -> Session:
    """A session whose commit never happens, as when the process dies just before it."""
    session = Session(engine)

    def die(session: Session) -> None:
        raise Crash

    event.listen(session, "before_commit", die)
    return session


def test_a_crash_before_the_commit_leaves_neither_and_the_redelivery_acts_once(
    instances: Instances, engine: Engine
) -> None:
    instances.start().handle(WANG, invite(engine, "区科技局"))
    instances.start().handle(WANG, "任务")
    with pytest.raises(Crash):
        instances.start(crashing).handle(WANG, "汇报 1 完成60%，已开工", "msg-1")
    assert reports(engine) == [] and stored_ids(engine) == []

    restarted = instances.start()
    assert text_of(restarted.handle(WANG, "汇报 1 完成60%，已开工", "msg-1")).splitlines()[1:] == CONFIRMED
    assert restarted.handle(WANG, "汇报 1 完成60%，已开工", "msg-1") == []
    assert reports(engine) == [("附件-34", "已开工")] and stored_ids(engine) == ["msg-1"]


def dying_at_the_second_commit(engine: Engine) -> Session:
    """A session whose process dies at its second commit, if it comes to one."""
    session = Session(engine)
    commits: list[int] = []

    def die(session: Session) -> None:
        commits.append(1)
        if len(commits) == 2:
            raise Crash

    event.listen(session, "before_commit", die)
    return session


@pytest.mark.parametrize("typed", ["/ackall {head}", "/snz {head} 3"])
def test_a_whole_reminder_is_acted_on_in_the_commit_that_stores_the_message(
    instances: Instances, engine: Engine, typed: str
) -> None:
    """全部签收 and 延后 change every item of the 督办提醒 and store the msgId in one commit: a crash after it leaves
    none of the items undone (the redelivery does nothing)."""
    instances.start().handle(WANG, invite(engine, "区科技局"))
    head, other = reminder_for(engine, "staff-001", "附件-34"), reminder_for(engine, "staff-001", "（七）")
    with Session(engine) as session:
        for row in session.exec(select(Notification).where(col(Notification.id).in_([head, other]))):
            row.bundle_id, row.sent_at = head, NOW
            session.add(row)
        session.commit()

    with contextlib.suppress(Crash):  # the process dies at its second commit, if it has one
        instances.start(dying_at_the_second_commit).handle(WANG, typed.format(head=head), "msg-1")
    assert instances.start().handle(WANG, typed.format(head=head), "msg-1") == []

    with Session(engine) as session:
        rows = session.exec(select(Notification).where(col(Notification.id).in_([head, other]))).all()
        assert [row.acknowledged_at is not None for row in rows] == [True, True]
    assert stored_ids(engine) == ["msg-1"]


# ---- two instances at once ------------------------------------------------------------------------------------


# how the two deliveries meet: the second finds no msgId stored, then either waits on the first's locks while the
# first commits (its key insert, or its first write, waits), or the first commits and ends before the second
# acts at all (its action is then stale: refused, or made again and rolled back at its commit)
MEETINGS = ["first commits while the second acts", "first ends before the second acts"]


def at_once(
    instances: Instances, sender: Sender, text: str, message_id: str, meeting: str
) -> tuple[str, str]:
    """The same message handled by two instances at once; the second looks before the first commits.

    The first instance stops just before its COMMIT (its change and the msgId written, holding their locks); the
    second starts and finds no msgId stored yet; then, as `meeting` says, the first commits while the second goes
    on, or the first runs to its end before the second goes on. Returns what each instance answers.
    """
    first, second = instances.start(), instances.start()
    first_engine, second_engine = instances.engines[-2:]
    first_commits, second_looked, first_ended = threading.Event(), threading.Event(), threading.Event()

    def hold_the_commit(connection: Any) -> None:
        if not first_commits.is_set():
            first_commits.set()
            assert second_looked.wait(5)

    def looked(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM inboundmessage" in statement and not second_looked.is_set():
            second_looked.set()
            if meeting == MEETINGS[1]:
                assert first_ended.wait(5)

    event.listen(first_engine, "commit", hold_the_commit)
    event.listen(second_engine, "after_cursor_execute", looked)
    answers: dict[str, str] = {}

    def deliver(name: str, core: CommandCore) -> None:
        answers[name] = text_of(core.handle(sender, text, message_id))

    first_thread = threading.Thread(target=deliver, args=("first", first))
    second_thread = threading.Thread(target=deliver, args=("second", second))
    first_thread.start()
    assert first_commits.wait(10)
    second_thread.start()
    first_thread.join(20)
    first_ended.set()
    second_thread.join(20)
    assert second_looked.is_set() and set(answers) == {"first", "second"}
    return answers["first"], answers["second"]


@pytest.mark.parametrize("meeting", MEETINGS)
def test_a_report_delivered_to_two_instances_at_once_is_stored_once(
    instances: Instances, engine: Engine, meeting: str
) -> None:
    instances.start().handle(WANG, invite(engine, "区科技局"))
    instances.start().handle(WANG, "任务")

    first, second = at_once(instances, WANG, "汇报 1 完成60%，已开工", "msg-1", meeting)

    assert first.splitlines()[1:] == CONFIRMED
    assert second == ""  # the second instance rolled its report back and says nothing
    assert reports(engine) == [("附件-34", "已开工")]
    assert stored_ids(engine) == ["msg-1"]


@pytest.mark.parametrize("meeting", MEETINGS)
@pytest.mark.parametrize("message", ["join", "approve"])
def test_a_second_instance_refused_because_the_first_acted_says_nothing(
    instances: Instances, engine: Engine, message: str, meeting: str
) -> None:
    core = instances.start()
    code = invite(engine, "区教体局")
    if message == "approve":
        core.handle(WANG, code)
        core.handle(LI, invite(engine, "区教体局", ContactRole.coordinator))
        core.handle(WANG, f"汇报 {lead_task_number(core, WANG, '（二）')} 已完成")

    sender, text = (LI, "同意 1") if message == "approve" else (WANG, code)
    first, second = at_once(instances, sender, text, "msg-1", meeting)

    # not "this code is used" or "already decided": the first instance's answer is the only one
    assert second == ""
    if message == "approve":
        assert first == APPROVED and closeouts(engine) == [CloseoutStatus.approved]
    else:
        assert first.startswith("欢迎！")
    assert stored_ids(engine) == ["msg-1"]
