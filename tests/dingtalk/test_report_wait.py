"""The 汇报 link's wait on DingTalk (/rep N alone, then the next text within 30 minutes): its place on the contact."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from duban.db import make_engine
from duban.migrate import current_revision, head_revision, upgrade
from models import Contact, Notification


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
