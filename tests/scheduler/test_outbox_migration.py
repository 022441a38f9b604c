"""Revision 0006: rows queued as finished Telegram HTML survive the upgrade and still go out, and replies to
messages sent before it still map back to their milestone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData
from sqlmodel import Session, select

from bot.core.notices import message_for
from bot.core.vocabulary import TELEGRAM
from bot.telegram.render import parts
from duban.db import make_engine
from duban.migrate import upgrade
from duban.seeding import load_seed
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import milestone_for_reply
from models import Contact, ContactRole, Milestone, Notification, Plan, Task
from tests.later_columns import add_later_columns, drop_later_columns

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default

NOW = dt.datetime(2025, 12, 2, 2, tzinfo=dt.UTC)


def test_queued_rows_survive_the_upgrade_and_render_as_they_were(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")
    # tables other than the outbox are as the models say at 0004, but for the columns later revisions add (contact's
    # DingTalk id and report wait, milestone's latest report): there while the ORM writes, gone before the upgrade
    add_later_columns(engine)
    with Session(engine) as session:
        load_seed(session=session)
        department = resolve_department(session=session, name="区教体局")
        issued = create_invite(
            session=session,
            department=department,
            role=ContactRole.contact,
            now=NOW,
            ttl=dt.timedelta(days=7),
        )
        contact = redeem_invite(
            session=session, token=issued.token, telegram_user_id=1001, language="zh_CN", now=NOW
        )
        milestone = session.exec(
            select(Milestone)
            .join(Task)
            .join(Plan)
            .where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
        ).one()
        contact_id, milestone_id, department_id = contact.id, milestone.id, contact.department_id
    old = MetaData()
    old.reflect(engine, only=["notification"])
    with engine.begin() as connection:
        common = {
            "contact_id": contact_id,
            "chat_id": 1001,
            "attempts": 0,
            "created_at": NOW,
            "due_at": NOW,
            "milestone_id": None,
            "instance_due_on": None,
            "sent_at": None,
            "telegram_message_id": None,
        }
        connection.execute(
            old.tables["notification"].insert(),
            [
                {  # a planner reminder already sent: its reply must still map back
                    **common,
                    "idempotency_key": f"reminder:m{milestone_id}:c{contact_id}:d30:2025-12-31",
                    "kind": "reminder",
                    "milestone_id": milestone_id,
                    "instance_due_on": dt.date(2025, 12, 31),
                    "text": "⏰ 提醒：距离该时间节点到期还有 30 天（2025-12-31）。",
                    "sent_at": NOW,
                    "telegram_message_id": 555,
                },
                {  # an overdue notice still queued, written as Telegram HTML
                    **common,
                    "idempotency_key": "overdue:2025-12-02:c1:x",
                    "kind": "overdue",
                    "text": "⚠️ <b>以下时间节点已逾期</b>\n· （二） 实施教育强镇筑基行动 &lt;乡镇&gt;",
                },
            ],
        )
    drop_later_columns(engine)
    upgrade(engine)

    with Session(engine) as session:
        reminder, overdue = session.exec(select(Notification).order_by(Notification.id)).all()
        assert reminder.payload == {"days": 30, "late_since": None}
        assert (reminder.department_id, reminder.platform_message_id) == (department_id, "555")
        assert overdue.payload == {
            "legacy_text": "⚠️ <b>以下时间节点已逾期</b>\n· （二） 实施教育强镇筑基行动 &lt;乡镇&gt;"
        }
        assert overdue.department_id is None
        # the queued notice goes out with the words it had (the markup is the channel's again)
        [part] = parts(message_for(session, overdue, tz=TZ, words=TELEGRAM))
        assert part.html == "⚠️ 以下时间节点已逾期\n· （二） 实施教育强镇筑基行动 &lt;乡镇&gt;"
        # the old reminder is a structured one now: re-chased or snoozed, it renders like any other
        assert (
            "1. （二） 实施教育强镇筑基行动"
            in parts(message_for(session, reminder, tz=TZ, words=TELEGRAM))[0].html
        )
        replier = session.get(Contact, contact_id)
        assert replier is not None
        assert (
            milestone_for_reply(session=session, contact=replier, platform_message_id="555") == milestone_id
        )
    engine.dispose()
