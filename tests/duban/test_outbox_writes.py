"""The outbox's bulk write: each owed message gets its own row and its own id back, in a few statements."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event
from sqlmodel import Session, col, select

from duban.services.outbox import ROWS_PER_INSERT, Owed, enqueue_all
from models import ContactRole, Notification
from tests.scheduler.conftest import joined_in, local, own_county
from tests.zones import DEFAULT_TZ


def test_every_new_message_gets_the_id_of_its_own_row_in_a_few_statements(seeded: Session) -> None:
    own_county(seeded, "测试县", [(dt.date(2026, 3, 31), "测试县教育局", None, "none")])
    contact = joined_in(seeded, "测试县", "测试县教育局", ContactRole.contact, 9001)
    now = local("2026-03-16")
    already = enqueue_all(
        session=seeded,
        owed=[Owed(key="k-00007", kind="reminder", contact=contact, due_at=now, payload={"n": 7})],
        tz=DEFAULT_TZ,
    )
    seeded.commit()
    count = 2 * ROWS_PER_INSERT + 500
    # a department's message (department_id set) beside a person's (None), as the overdue ladder writes them
    owed = [
        Owed(
            key=f"k-{n:05d}",
            kind="reminder",
            contact=contact,
            due_at=now,
            payload={"n": n},
            for_department=n % 2 == 0,
        )
        for n in range(count)
    ]
    owed.append(
        Owed(key="k-00003", kind="reminder", contact=contact, due_at=now, payload={"n": -1})
    )  # twice here

    statements: list[str] = []

    def count_statement(*args: object) -> None:
        statements.append(str(args[2]))

    connection = seeded.connection()
    event.listen(connection, "before_cursor_execute", count_statement)
    try:
        ids = enqueue_all(session=seeded, owed=owed, tz=DEFAULT_TZ)
    finally:
        event.remove(connection, "before_cursor_execute", count_statement)
    seeded.commit()

    # a key queued before, or earlier in the same call, adds nothing; every other message has its own row
    assert ids[7] is None and ids[-1] is None
    assert sum(new_id is not None for new_id in ids) == count - 1
    payload_of = dict(seeded.exec(select(Notification.id, Notification.payload)).all())
    for position, new_id in enumerate(ids[:-1]):
        if new_id is not None:
            assert payload_of[new_id] == {"n": position}
    assert already[0] is not None and payload_of[already[0]] == {"n": 7}
    rows = seeded.exec(select(Notification).where(col(Notification.idempotency_key).startswith("k-"))).all()
    assert len(rows) == count
    department_of = {row.idempotency_key: row.department_id for row in rows}
    assert department_of["k-00002"] == contact.department_id and department_of["k-00003"] is None
    # statements follow the parts, not the rows: key look-ups, one INSERT and one id read per part
    assert len(statements) < 20, statements[:5]
