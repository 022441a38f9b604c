"""One process at a time runs the scheduler jobs: a lease row with an expiry, renewed while the holder lives.

A dead holder stops renewing; once its lease has expired another instance takes it over. The outbox claims make
sending safe even if two holders overlapped for a moment; the lease keeps planning and digests from doubling work.
"""

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models import Lease

SCHEDULER_LEASE = "scheduler"


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
                .where(col(Lease.name) == self.name)
                .where(or_(col(Lease.holder) == self.holder, col(Lease.expires_at) < now))
                .values(holder=self.holder, expires_at=now + self.ttl)
            ).rowcount
            session.commit()
            if renewed:
                return True
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
