"""Scheduler fixtures: contacts who joined through the real invitation path, a fake clock, a fake bot."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session
from telegram import Bot

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.telegram.render import parts
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    Milestone,
    Notification,
    Plan,
    Task,
    TaskDepartment,
)
from tests.telegram_fakes import TOKEN, RecordingRequest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=SHANGHAI)


def shown(session: Session, row: Notification) -> str:
    """The row as its recipient sees it in Telegram (HTML, all parts), rendered as the dispatcher would."""
    return "\n".join(part.html for part in parts(message_for(session, row, tz=SHANGHAI, words=TELEGRAM)))


def own_county(
    session: Session, region: str, tasks: list[tuple[dt.date, str | None, str | None, str]]
) -> list[Milestone]:
    """A plan of a county of our own (not in the seed): one task and milestone per (due date, lead, co, recurrence); a None lead
    leaves the task with its co department only."""
    plan = Plan(
        key=f"{region}-plan",
        title=f"{region}方案",
        issuer=region,
        issued_on=dt.date(2025, 1, 1),
        region=region,
    )
    session.add(plan)
    departments: dict[str, Department] = {}
    for _due, lead, co, _recurrence in tasks:
        for name in (lead, co):
            if name and name not in departments:
                departments[name] = Department(name=name, region=region)
    session.add_all(departments.values())
    session.flush()
    milestones = []
    for position, (due, lead, co, recurrence) in enumerate(tasks):
        task = Task(
            plan_id=plan.id or 0,
            ref=f"（{position + 1}）",
            section="body",
            title=f"任务{position + 1}",
            text="…",
            position=position,
        )
        session.add(task)
        session.flush()
        for name, role in ((lead, DepartmentRole.lead), (co, DepartmentRole.co)):
            if name:
                session.add(
                    TaskDepartment(
                        task_id=task.id or 0,
                        department_id=departments[name].id or 0,
                        role=role,
                        printed_as=name,
                    )
                )
        milestone = Milestone(task_id=task.id or 0, due_on=due, target="目标", recurrence=recurrence)
        session.add(milestone)
        milestones.append(milestone)
    session.commit()
    return milestones


def joined_in(session: Session, region: str, department: str, role: ContactRole, user_id: int) -> Contact:
    """Someone of a department of `region` who joined through an invitation."""
    issued = create_invite(
        session=session,
        department=resolve_department(session=session, name=department, region=region),
        role=role,
        now=local("2025-01-01"),
        ttl=dt.timedelta(days=7),
    )
    return redeem_invite(
        session=session,
        token=issued.token,
        telegram_user_id=user_id,
        language="zh_CN",
        now=local("2025-01-01"),
    )


@pytest.fixture
def join(seeded: Session) -> Callable[..., Contact]:
    def _join(
        department: str, user_id: int, role: ContactRole = ContactRole.contact, region: str | None = None
    ) -> Contact:
        dept = resolve_department(session=seeded, name=department, region=region)
        now = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
        issued = create_invite(session=seeded, department=dept, role=role, now=now, ttl=dt.timedelta(days=7))
        return redeem_invite(
            session=seeded, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=now
        )

    return _join


@pytest.fixture
async def fake_bot() -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, request=RecordingRequest())
    await bot.initialize()
    yield bot
    await bot.shutdown()


class FakeTime:
    """A monotonic clock and a sleep that advances it: pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
