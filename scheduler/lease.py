"""One process at a time runs the scheduler jobs: a lease row with an expiry, renewed while the holder lives.

A dead holder stops renewing; once its lease has expired another instance takes it over. The outbox claims make
sending safe even if two holders overlapped for a moment; the lease keeps planning and digests from doubling work.

A takeover is also the one moment that knows the scheduler was stopped, and for how long: nobody held the lease
from the old expiry until now. It is recorded (audit action `scheduler_down`), so a reminder sent late can say
"the service was down from X to Y" from a row that proves it (bot/core/notices.py), and not guess.
"""

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from duban.services import audit
from models import AuditEntry, Lease

SCHEDULER_LEASE = "scheduler"
DOWN = (
    "scheduler_down"  # audit action of a takeover: nobody ran the scheduler from `since` (its detail) to `at`
)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class LeaseKeeper:
    engine: Engine
    clock: Callable[[], dt.datetime]
    ttl: dt.timedelta = dt.timedelta(seconds=30)
    name: str = SCHEDULER_LEASE
    holder: str = field(default_factory=process_name)

    def acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now = self.clock()
        with Session(self.engine) as session:
            renewed = session.exec(
                update(Lease)
                .where(col(Lease.name) == self.name, col(Lease.holder) == self.holder)
                .values(expires_at=now + self.ttl)
            ).rowcount
            if renewed:
                session.commit()
                return True
            held = session.exec(
                select(Lease.holder, Lease.expires_at).where(col(Lease.name) == self.name)
            ).first()
            if held is not None:
                holder, expired_at = held
                if expired_at >= now:
                    return False  # someone else holds it
                # the holder is named, so of two instances taking over at once only one finds it still there
                taken = session.exec(
                    update(Lease)
                    .where(col(Lease.name) == self.name, col(Lease.holder) == holder)
                    .where(col(Lease.expires_at) < now)
                    .values(holder=self.holder, expires_at=now + self.ttl)
                ).rowcount
                if taken and self.name == SCHEDULER_LEASE:
                    audit.record(
                        session, now=now, contact_id=None, action=DOWN, detail=expired_at.isoformat()
                    )
                session.commit()
                return bool(taken)
            try:
                session.add(Lease(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                session.commit()
                return True
            except IntegrityError:  # someone else holds it and it has not expired
                session.rollback()
                return False

    def release(self) -> None:
        with Session(self.engine) as session:
            session.execute(
                update(Lease)
                .where(col(Lease.name) == self.name, col(Lease.holder) == self.holder)
                .values(expires_at=self.clock() - dt.timedelta(seconds=1))
            )
            session.commit()


def scheduler_down_at(session: Session, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The stop of the scheduler that `moment` fell in, (from, to), as the takeover after it recorded it; None
    where the scheduler was running then, or no takeover says otherwise."""
    after = session.exec(
        select(AuditEntry)
        .where(col(AuditEntry.action) == DOWN, col(AuditEntry.at) >= moment)
        .order_by(col(AuditEntry.at))
        .limit(1)
    ).first()
    if after is None:
        return None
    since = dt.datetime.fromisoformat(after.detail)
    return (since, after.at) if since <= moment else None
