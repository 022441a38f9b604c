"""The scheduler lease: one holder at a time, renewed by its holder, taken over once it expires."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from scheduler.lease import LeaseKeeper

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
