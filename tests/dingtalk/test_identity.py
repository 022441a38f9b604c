"""A contact joined on DingTalk: the 0007 migration keeps every contact, and DingTalk contacts are reachable."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, text
from sqlmodel import Session, select

from duban.db import make_engine
from duban.migrate import current_revision, head_revision, upgrade
from duban.services.invites import create_invite, redeem_invite, resolve_department
from models import Contact, ContactRole
from models.people import channel_of, reachable

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)


def test_0007_adds_the_dingtalk_id_and_robots_and_keeps_every_contact(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO department (id, name, region) VALUES (1, '区教体局', '淄博市淄川区')")
        )
        connection.execute(
            text(
                "INSERT INTO contact (id, department_id, name, role, telegram_user_id, language, active)"
                " VALUES (7, 1, '王老师', 'contact', 1001, 'zh_CN', true)"
            )
        )
    upgrade(engine)  # through 0007, to the newest

    assert current_revision(engine) == head_revision()
    assert "grouprobot" in inspect(engine).get_table_names()
    with Session(engine) as session:
        contact = session.get(Contact, 7)
        assert contact is not None
        assert (contact.name, contact.telegram_user_id, contact.dingtalk_user_id) == ("王老师", 1001, None)
    engine.dispose()


def test_a_contact_joined_on_either_channel_is_reachable_on_it(seeded: Session) -> None:
    department = resolve_department(session=seeded, name="区科技局")
    contacts = []
    for identity in ({"telegram_user_id": 1001}, {"dingtalk_user_id": "staff-001"}, {}):
        issued = create_invite(
            session=seeded, department=department, role=ContactRole.contact, now=NOW, ttl=dt.timedelta(days=7)
        )
        if identity:
            redeem_invite(session=seeded, token=issued.token, language="zh_CN", now=NOW, **identity)  # type: ignore[arg-type]
        contacts.append(issued.contact)

    reached = {c.id for c in seeded.exec(select(Contact).where(reachable())).all()}

    assert reached == {contacts[0].id, contacts[1].id}
    assert [channel_of(c) for c in contacts] == ["telegram", "dingtalk", None]
