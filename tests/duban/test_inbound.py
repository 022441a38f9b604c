"""A message's platform id goes in with the first commit that changes something, and only one delivery's does."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.command import downgrade
from sqlalchemy import Engine, inspect
from sqlmodel import Session, select

from duban.db import make_engine
from duban.migrate import alembic_config, current_revision, head_revision, upgrade
from duban.services import inbound
from models import AuditEntry, InboundMessage

NOW = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)


def stored(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(r.channel, r.message_id) for r in session.exec(select(InboundMessage)).all()]


def actions(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all())  # type: ignore[arg-type]


def deliver(engine: Engine, message_id: str, action: str) -> None:
    """A delivery whose command writes one row, as a service does: add, then commit."""
    with Session(engine) as session:
        inbound.record_with_commit(session=session, channel="dingtalk", message_id=message_id, now=NOW)
        session.add(AuditEntry(at=NOW, action=action))
        session.commit()


def test_the_id_goes_in_with_the_commit_that_changes_something(engine: Engine) -> None:
    with Session(engine) as session:
        assert not inbound.handled(session=session, channel="dingtalk", message_id="msg-1")
        delivery = inbound.record_with_commit(
            session=session, channel="dingtalk", message_id="msg-1", now=NOW
        )
        session.commit()  # nothing changed yet (a command that only read): no id either
        assert stored(engine) == [] and not delivery.stored

        session.add(AuditEntry(at=NOW, action="report"))
        session.commit()
        assert stored(engine) == [("dingtalk", "msg-1")] and delivery.stored

        session.add(AuditEntry(at=NOW, action="later"))
        session.commit()  # the same delivery's later commits add nothing
        assert inbound.handled(session=session, channel="dingtalk", message_id="msg-1")
    assert stored(engine) == [("dingtalk", "msg-1")]
    assert actions(engine) == ["report", "later"]


def test_a_change_rolled_back_takes_its_id_with_it(engine: Engine) -> None:
    with Session(engine) as session:
        inbound.record_with_commit(session=session, channel="dingtalk", message_id="msg-1", now=NOW)
        session.add(AuditEntry(at=NOW, action="refused"))
        session.flush()
        session.rollback()  # a refusal
        session.commit()
    assert stored(engine) == [] and actions(engine) == []

    deliver(engine, "msg-1", "report")  # the redelivery acts
    assert stored(engine) == [("dingtalk", "msg-1")] and actions(engine) == ["report"]


def test_the_second_delivery_to_commit_raises_and_stores_nothing(engine: Engine) -> None:
    deliver(engine, "msg-1", "report")

    with pytest.raises(inbound.AlreadyHandled), Session(engine) as session:
        inbound.record_with_commit(session=session, channel="dingtalk", message_id="msg-1", now=NOW)
        session.add(AuditEntry(at=NOW, action="report again"))
        session.commit()

    assert actions(engine) == ["report"]
    # another channel's message with the same id is another message
    with Session(engine) as session:
        inbound.record_with_commit(session=session, channel="telegram", message_id="msg-1", now=NOW)
        session.add(AuditEntry(at=NOW, action="telegram"))
        session.commit()
    assert sorted(stored(engine)) == [("dingtalk", "msg-1"), ("telegram", "msg-1")]


def test_a_refused_delivery_learns_that_the_other_one_acted(engine: Engine) -> None:
    with Session(engine) as session:
        inbound.record_with_commit(session=session, channel="dingtalk", message_id="msg-1", now=NOW)
        assert not inbound.handled_elsewhere(session)
        deliver(engine, "msg-1", "report")  # meanwhile, on another instance
        session.rollback()  # this one was refused: the report it would change was changed
        assert inbound.handled_elsewhere(session)

    with Session(engine) as session:  # the one that acted is not "elsewhere"
        inbound.record_with_commit(session=session, channel="dingtalk", message_id="msg-2", now=NOW)
        session.add(AuditEntry(at=NOW, action="report"))
        session.commit()
        assert not inbound.handled_elsewhere(session)


def test_an_id_too_long_for_the_column_is_kept_as_its_digest(engine: Engine) -> None:
    long_id = "m" * 300
    deliver(engine, long_id, "report")
    [(_, kept)] = stored(engine)
    assert kept.startswith("sha256:") and len(kept) == 71
    with Session(engine) as session:
        assert inbound.handled(session=session, channel="dingtalk", message_id=long_id)
        assert not inbound.handled(session=session, channel="dingtalk", message_id="m" * 299)


def test_ids_older_than_the_retention_are_forgotten(engine: Engine) -> None:
    with Session(engine) as session:
        for days in (8, 7, 1):
            session.add(
                InboundMessage(
                    channel="dingtalk", message_id=f"{days}d", received_at=NOW - dt.timedelta(days=days)
                )
            )
        session.commit()
        assert inbound.forget_before(session=session, before=NOW - inbound.RETENTION) == 1
    assert sorted(stored(engine)) == [("dingtalk", "1d"), ("dingtalk", "7d")]


def test_0017_adds_the_table_and_its_downgrade_takes_it_away(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0015")
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        deliver(engine, "msg-1", "report")
        assert stored(engine) == [("dingtalk", "msg-1")]

        downgrade(alembic_config(engine), "0015")
        assert "inboundmessage" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
