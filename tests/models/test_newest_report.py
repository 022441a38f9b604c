"""Each milestone's copy of its newest report (Milestone.latest_*) equals its source after every kind of write
(the source: tests/newest_copies.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, delete, insert, text, update
from sqlmodel import Session, col, select

from duban.services.progress import UNDO_WINDOW, record_report, undo_report
from duban.status import milestone_views
from models import (
    Contact,
    ProgressReport,
    ReportStatus,
)
from tests.newest_copies import NOW, assert_copies_right, copies, join, led_milestones
from tests.zones import DEFAULT_TZ


def report_ids(session: Session) -> list[int]:
    return [i or 0 for i in session.exec(select(ProgressReport.id).order_by(col(ProgressReport.id))).all()]


STATUSES = (ReportStatus.on_track, ReportStatus.at_risk, ReportStatus.blocked)


class Mix:
    """Writes of every kind, on a few milestones, at moments that tie and go back as well as forward."""

    def __init__(self, session: Session, contact: Contact, milestones: list[int], rng: random.Random) -> None:
        self.session, self.contact, self.milestones, self.rng = session, contact, milestones, rng
        self.clock = NOW

    def moment(self) -> dt.datetime:
        """A report's time: now, the time of a stored report (a tie), or some minutes ago."""
        stored = self.session.exec(select(ProgressReport.reported_at)).all()
        choice = self.rng.random()
        if stored and choice < 0.3:
            return self.rng.choice(stored)
        if choice < 0.6:
            return self.clock - dt.timedelta(minutes=self.rng.randrange(1, 90))
        return self.clock

    def row(self) -> dict[str, Any]:
        return {
            "milestone_id": self.rng.choice(self.milestones),
            "contact_id": self.contact.id,
            "status": self.rng.choice(STATUSES),
            "percent": self.rng.choice((None, 10, 40, 70)),
            "note": "",
            "reported_at": self.moment(),
        }

    def some_reports(self, most: int) -> list[int]:
        ids = report_ids(self.session)
        return self.rng.sample(ids, min(len(ids), self.rng.randint(1, most)))

    def orm_insert(self) -> None:
        record_report(
            session=self.session,
            contact=self.contact,
            milestone_id=self.rng.choice(self.milestones),
            status=self.rng.choice(STATUSES),
            percent=self.rng.choice((None, 20, 50, 90)),
            note="",
            now=self.clock,
            tz=DEFAULT_TZ,
        )

    def undo(self) -> None:
        recent = [
            r.id or 0
            for r in self.session.exec(select(ProgressReport)).all()
            if self.clock - UNDO_WINDOW <= r.reported_at <= self.clock
        ]
        if recent:
            undo_report(
                session=self.session, contact=self.contact, report_id=self.rng.choice(recent), now=self.clock
            )

    def bulk_insert(self) -> None:
        self.session.execute(insert(ProgressReport), [self.row() for _ in range(self.rng.randint(1, 4))])
        self.session.commit()

    def orm_bulk_delete(self) -> None:
        self.session.execute(delete(ProgressReport).where(col(ProgressReport.id).in_(self.some_reports(3))))
        self.session.commit()

    def edit(self) -> None:
        for report_id in self.some_reports(1):
            report = self.session.get(ProgressReport, report_id)
            assert report is not None
            report.reported_at = self.moment()
            if self.rng.random() < 0.5:
                report.status, report.percent = self.rng.choice(STATUSES), self.rng.choice((None, 30, 60))
            self.session.add(report)
        self.session.commit()

    def move(self) -> None:
        for report_id in self.some_reports(2):
            if self.rng.random() < 0.5:
                report = self.session.get(ProgressReport, report_id)
                assert report is not None
                report.milestone_id = self.rng.choice(self.milestones)
                self.session.add(report)
            else:  # an ORM bulk update
                self.session.execute(
                    update(ProgressReport)
                    .where(col(ProgressReport.id) == report_id)
                    .values(milestone_id=self.rng.choice(self.milestones))
                )
        self.session.commit()

    def raw_sql(self) -> None:
        choice = self.rng.random()
        if choice < 0.4:
            self.session.execute(
                text(
                    "INSERT INTO progressreport (milestone_id, contact_id, status, percent, note, reported_at) "
                    "VALUES (:milestone_id, :contact_id, :status, :percent, :note, :reported_at)"
                ),
                {**self.row(), "reported_at": self.moment().replace(tzinfo=None)},
            )
        elif choice < 0.7:
            self.session.execute(
                text("DELETE FROM progressreport WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": self.some_reports(2)},
            )
        else:
            self.session.execute(
                text("UPDATE progressreport SET reported_at = :at, milestone_id = :milestone WHERE id = :id"),
                {
                    "at": self.moment().replace(tzinfo=None),
                    "milestone": self.rng.choice(self.milestones),
                    "id": (self.some_reports(1) or [0])[0],
                },
            )
        self.session.commit()

    def step(self) -> str:
        self.clock += dt.timedelta(minutes=self.rng.choice((0, 0, 1, 3, 12)))
        name = self.rng.choice(
            ("orm_insert", "orm_insert", "undo", "bulk_insert", "orm_bulk_delete", "edit", "move", "raw_sql")
        )
        if name in {"orm_bulk_delete", "edit", "move"} and not report_ids(self.session):
            name = "orm_insert"
        getattr(self, name)()
        self.session.expire_all()  # raw SQL wrote behind the identity map
        return name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_copy_equals_its_source_after_a_random_mix_of_writes(seeded: Session, seed: int) -> None:
    contact = join(seeded)
    mix = Mix(seeded, contact, led_milestones(seeded, contact)[:4], random.Random(seed))
    done = []
    for _ in range(70):
        done.append(mix.step())
        assert_copies_right(seeded, " ".join(done[-5:]))
    assert {"undo", "bulk_insert", "orm_bulk_delete", "edit", "move", "raw_sql"} <= set(done)
    assert any(c[1] is not None for c in copies(seeded))


@pytest.mark.parametrize("status", [ReportStatus.on_track, ReportStatus.done])
@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_undoing_reports_in_any_order_hands_the_copy_to_the_newest_left(
    seeded: Session, order: tuple[int, ...], status: ReportStatus
) -> None:
    """Four reports, the last two made in the same minute (the later id is the newer); a done report opens or
    refreshes a 销号 request, which the undo withdraws or points back."""
    contact = join(seeded)
    milestone_id = led_milestones(seeded, contact)[0]
    reports = [
        record_report(
            session=seeded,
            contact=contact,
            milestone_id=milestone_id,
            status=status,
            percent=percent,
            note="",
            now=NOW + dt.timedelta(minutes=minute),
            tz=DEFAULT_TZ,
        ).report
        for minute, percent in ((0, 100), (1, 97), (2, 98), (2, 99))
    ]
    left = list(range(4))
    for undone in order:
        undo_report(session=seeded, contact=contact, report_id=reports[undone].id or 0, now=NOW)
        left.remove(undone)
        newest = reports[max(left)] if left else None  # made in order: the highest position is the newest
        (view,) = [
            v for v in milestone_views(session=seeded, today=NOW.date()) if v.milestone_id == milestone_id
        ]
        assert (view.latest_report_id, view.latest_percent) == (
            (newest.id, newest.percent) if newest else (None, None)
        ), f"after undoing {order[: 4 - len(left)]}"
        assert_copies_right(seeded)


def test_a_report_bulk_deleted_leaves_no_id_for_another_milestones_report_to_take(seeded: Session) -> None:
    """SQLite gives a new row the highest id plus one, so a deleted newest report's id comes back on the next
    report, of whatever milestone; a copy left pointing at it showed that milestone's report."""
    contact = join(seeded)
    first, second = led_milestones(seeded, contact)[:2]
    older = record_report(
        session=seeded,
        contact=contact,
        milestone_id=first,
        status=ReportStatus.on_track,
        percent=30,
        note="",
        now=NOW,
        tz=DEFAULT_TZ,
    ).report
    newest = record_report(
        session=seeded,
        contact=contact,
        milestone_id=first,
        status=ReportStatus.at_risk,
        percent=40,
        note="",
        now=NOW + dt.timedelta(minutes=1),
        tz=DEFAULT_TZ,
    ).report
    seeded.execute(delete(ProgressReport).where(col(ProgressReport.id) == newest.id))
    seeded.commit()
    other = record_report(
        session=seeded,
        contact=contact,
        milestone_id=second,
        status=ReportStatus.blocked,
        percent=90,
        note="",
        now=NOW + dt.timedelta(minutes=2),
        tz=DEFAULT_TZ,
    ).report
    if seeded.get_bind().dialect.name == "sqlite":
        assert other.id == newest.id  # the id came back
    views = {v.milestone_id: v for v in milestone_views(session=seeded, today=NOW.date())}
    assert (views[first].latest_report_id, views[first].latest_percent) == (older.id, 30)
    assert (views[second].latest_report_id, views[second].latest_percent) == (other.id, 90)
    assert_copies_right(seeded)


def test_a_copy_that_drifted_is_recomputed_by_the_next_write_to_its_milestone(seeded: Session) -> None:
    """A trigger reads the milestone's reports, never the copy it had."""
    contact = join(seeded)
    milestone_id = led_milestones(seeded, contact)[0]
    first = record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus.on_track,
        percent=30,
        note="",
        now=NOW,
        tz=DEFAULT_TZ,
    ).report
    seeded.execute(
        text(
            "UPDATE milestone SET latest_report_id = 999999, latest_reported_at = :later, latest_report_percent = 1 "
            "WHERE id = :id"
        ),
        {"later": (NOW + dt.timedelta(days=1)).replace(tzinfo=None), "id": milestone_id},
    )
    seeded.commit()
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus.on_track,
        percent=20,
        note="",
        now=NOW - dt.timedelta(minutes=5),  # older than the first: the first stays the newest
        tz=DEFAULT_TZ,
    )
    (view,) = [v for v in milestone_views(session=seeded, today=NOW.date()) if v.milestone_id == milestone_id]
    assert (view.latest_report_id, view.latest_percent) == (first.id, 30)
    assert_copies_right(seeded)


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_two_writers_on_one_milestone_at_once_leave_the_newest_report_in_the_copy(
    seeded: Session, engine: Engine
) -> None:
    """PostgreSQL, READ COMMITTED: the second writer's trigger waits for the first's lock on the milestone, then reads
    the reports afresh, so the first writer's newer report, committed while it waited, stays the copy."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time")
    contact = join(seeded)
    milestone_id = led_milestones(seeded, contact)[0]
    report = {"milestone_id": milestone_id, "contact_id": contact.id, "status": "on_track", "note": ""}
    with Session(engine) as first, Session(engine) as second:
        first.execute(
            insert(ProgressReport), [{**report, "percent": 60, "reported_at": NOW + dt.timedelta(minutes=5)}]
        )

        def write_an_older_report() -> None:
            second.execute(insert(ProgressReport), [{**report, "percent": 10, "reported_at": NOW}])
            second.commit()

        writer = threading.Thread(target=write_an_older_report)
        writer.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(engine):
            assert time.monotonic() < deadline, "the second writer never waited for the first"
            time.sleep(0.02)
        first.commit()
        writer.join(timeout=10)
        assert not writer.is_alive()
    seeded.expire_all()
    (view,) = [v for v in milestone_views(session=seeded, today=NOW.date()) if v.milestone_id == milestone_id]
    assert view.latest_percent == 60
    assert_copies_right(seeded)
