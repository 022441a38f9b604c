"""The dashboard over a seeded database: people of two counties, a fixed clock, a signed-in browser client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from duban.config import Settings
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import record_report
from duban.services.web_login import issue_login_link
from models import Contact, ContactRole, Milestone, Notification, Plan, ReportStatus, Task
from tests.bot.conftest import harness  # noqa: F401  (the chat test harness: /web in chat)
from tests.zones import DEFAULT_TZ
from web.app import COOKIE, build_web_app

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Asia/Shanghai
HOME = "淄博市淄川区"
HOME_PLAN = "zibo-zichuan-2023"
FOREIGN_PLAN = "anqiu-2023"


def join(
    session: Session, department: str, role: ContactRole, telegram_user_id: int, *, region: str = HOME
) -> Contact:
    """A contact joined through an invitation, as `duban invite` and /start make one."""
    dept = resolve_department(session=session, name=department, region=region)
    issued = create_invite(session=session, department=dept, role=role, now=NOW, ttl=dt.timedelta(days=7))
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=telegram_user_id, language="zh_CN", now=NOW
    )


def milestone_of(session: Session, plan_key: str, task_ref: str) -> Milestone:
    milestone = session.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == plan_key, Task.ref == task_ref)
    ).first()
    assert milestone is not None
    return milestone


def plan_id(session: Session, key: str) -> int:
    plan = session.exec(select(Plan).where(Plan.key == key)).one()
    assert plan.id is not None
    return plan.id


@dataclass
class County:
    """Who is who in the tests: 淄川's people, and a coordinator of 安丘 (another county)."""

    coordinator: Contact
    lead: Contact
    contact: Contact
    foreign_coordinator: Contact
    foreign_contact: Contact


@pytest.fixture
def county(seeded: Session) -> County:
    session = seeded
    people = County(
        coordinator=join(session, "区教体局", ContactRole.coordinator, 2002),
        lead=join(session, "区教体局", ContactRole.lead, 3003),
        contact=join(session, "区教体局", ContactRole.contact, 1001),
        foreign_coordinator=join(session, "市教体局", ContactRole.coordinator, 9002, region="安丘市"),
        foreign_contact=join(session, "市教体局", ContactRole.contact, 9001, region="安丘市"),
    )
    for contact in vars(people).values():
        session.refresh(contact)
    return people


def request_closeout(
    session: Session, contact: Contact, plan_key: str, task_ref: str, note: str = "已完成"
) -> int:
    """The contact reports 已完成 on a task their department leads: a 销号 request; returns its id."""
    milestone = milestone_of(session, plan_key, task_ref)
    outcome = record_report(
        session=session,
        contact=contact,
        milestone_id=milestone.id or 0,
        status=ReportStatus.done,
        percent=100,
        note=note,
        now=NOW,
        tz=DEFAULT_TZ,
    )
    assert outcome.closeout is not None and outcome.closeout.id is not None
    return outcome.closeout.id


def settings(**overrides: object) -> Settings:
    return Settings(**{"web_base_url": "http://testserver", **overrides})  # type: ignore[arg-type]


@pytest.fixture
def clock() -> list[dt.datetime]:
    return [NOW]


@pytest.fixture
def app_client(engine: Engine, clock: list[dt.datetime]) -> Iterator[TestClient]:
    with TestClient(build_web_app(engine, settings(), lambda: clock[0])) as client:
        yield client


def sign_in(client: TestClient, session: Session, reader: Contact) -> TestClient:
    """What a reader does: /web in chat, open the link, press the button."""
    issued = issue_login_link(session=session, contact=reader, now=NOW)
    assert client.get(f"/login/{issued.token}").status_code == 200
    answer = client.post(f"/login/{issued.token}", follow_redirects=False)
    assert answer.status_code == 303 and COOKIE in answer.cookies
    return client


def said(session: Session, notice: Notification) -> str:
    """What the recipient reads: the notice rendered at send time, as every channel does (plain text)."""
    message = message_for(session, notice, tz=TZ, words=TELEGRAM)
    return "\n".join([message.title, *(line for section in message.sections for line in section.lines)])
