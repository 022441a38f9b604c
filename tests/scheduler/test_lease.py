"""The scheduler lease: one holder at a time, renewed by its holder, taken over once it expires."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, select

from models import AuditEntry
from scheduler.lease import DOWN, LeaseKeeper, scheduler_down_at

T0 = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)


def test_one_holder_at_a_time_and_takeover_after_expiry(engine: Engine) -> None:
    clock = [T0]
    first = LeaseKeeper(engine=engine, clock=lambda: clock[0], ttl=dt.timedelta(seconds=30), holder="a")
    second = LeaseKeeper(engine=engine, clock=lambda: clock[0], ttl=dt.timedelta(seconds=30), holder="b")
    assert first.acquire() is True
    assert second.acquire() is False
    clock[0] = T0 + dt.timedelta(seconds=20)
    assert first.acquire() is True  # renewed
    clock[0] = T0 + dt.timedelta(seconds=45)
    assert second.acquire() is False  # renewed at +20, valid to +50
    clock[0] = T0 + dt.timedelta(seconds=51)  # the holder died and stopped renewing
    assert second.acquire() is True
    assert first.acquire() is False


def test_release_lets_another_take_over_at_once(engine: Engine) -> None:
    first = LeaseKeeper(engine=engine, clock=lambda: T0, holder="a")
    second = LeaseKeeper(engine=engine, clock=lambda: T0, holder="b")
    assert first.acquire()
    first.release()
    assert second.acquire()


def test_a_takeover_records_when_the_scheduler_was_stopped(engine: Engine) -> None:
    """The stop a late reminder names (bot/core/notices.py) is what the takeover recorded, and only that."""
    clock = [T0]
    first = LeaseKeeper(engine=engine, clock=lambda: clock[0], ttl=dt.timedelta(seconds=30), holder="a")
    second = LeaseKeeper(engine=engine, clock=lambda: clock[0], ttl=dt.timedelta(seconds=30), holder="b")
    assert first.acquire()  # the first holder ever: nothing was stopped
    clock[0] = T0 + dt.timedelta(seconds=20)
    assert first.acquire()  # renewed
    assert not second.acquire()  # held: nothing recorded
    clock[0] = T0 + dt.timedelta(days=2)  # "a" died at +20 s; its lease ran out at +50 s
    assert second.acquire()
    with Session(engine) as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == DOWN)).all()
        assert (entry.detail, entry.at) == ((T0 + dt.timedelta(seconds=50)).isoformat(), clock[0])
        assert scheduler_down_at(session, T0 + dt.timedelta(days=1)) == (
            T0 + dt.timedelta(seconds=50),
            clock[0],
        )
        assert scheduler_down_at(session, T0 + dt.timedelta(seconds=40)) is None  # "a" still ran then
        assert scheduler_down_at(session, T0 + dt.timedelta(days=3)) is None  # "b" runs since
