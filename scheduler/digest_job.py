"""The weekly digest for leads goes into the outbox: one row for the text, one for the chart (sent as a photo).

Both are made when they are sent, from the database as it then stands; the rows only say for whom and which week.
"""

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from duban.services.access import visible_plan_ids
from duban.services.outbox import ContactRef, Owed, enqueue_all
from duban.services.recipients import lead_department_names
from duban.status import Pace, milestone_views
from models import Contact, ContactRole
from models.people import reachable

if TYPE_CHECKING:
    from duban.chart import ChartRow  # imported where used at run time: it pulls in matplotlib

CHART_KIND = "digest_chart"


def plan_digests(*, session: Session, now: dt.datetime, tz: ZoneInfo) -> int:
    """This week's digest (text and chart) for every reachable lead not yet queued one: one key look-up and one
    INSERT for the province, however many leads it has."""
    today = now.astimezone(tz).date()
    year, week, _ = today.isocalendar()
    leads = session.exec(
        select(Contact.id, Contact.department_id).where(Contact.role == ContactRole.lead, reachable())
    )
    owed = [
        Owed(
            key=f"digest:{year}-W{week:02d}:c{lead_id}{suffix}",
            kind=kind,
            contact=ContactRef(lead_id or 0, department_id),
            payload={"today": today.isoformat()},
            due_at=now,
        )
        for lead_id, department_id in leads.all()
        for kind, suffix in ((CHART_KIND, ":chart"), ("digest", ""))
    ]
    queued = sum(row is not None for row in enqueue_all(session=session, owed=owed, tz=tz))
    session.commit()
    return queued


def chart_rows(*, session: Session, reader: Contact, today: dt.date) -> "list[ChartRow]":
    """Pace counts per lead department over the plans the reader sees."""
    from duban.chart import ChartRow

    views_ = milestone_views(
        session=session, today=today, plan_ids=visible_plan_ids(session=session, contact=reader)
    )
    leads = lead_department_names(session=session, milestone_ids=[v.milestone_id for v in views_])
    counts: dict[str, Counter[Pace]] = defaultdict(Counter)
    for view in views_:
        for name in leads.get(view.milestone_id, ["—"]):
            counts[name][view.pace] += 1
    return [
        ChartRow(
            label=name,
            green=c[Pace.green],
            amber=c[Pace.amber],
            red=c[Pace.red],
            grey=c[Pace.grey],
            done=c[Pace.done],
        )
        for name, c in sorted(counts.items())
    ]
