"""The days the reminder planner did not run, as a reader is told of them: a stop longer than the catch-up
window cost reminders that were never sent (models.planning.PlanningGap), which only the rows that record it can
say."""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from duban.services.access import visible_plan_ids
from models import Contact, Plan
from models.planning import gaps_ending_since

SHOWN_DAYS = 30  # a stop is told of until this long after it ended


@dataclass(frozen=True)
class MissedDays:
    first_day: dt.date
    last_day: dt.date
    skipped: int  # reminders of the reader's plans due to go out on those days and never sent


def missed_days(*, session: Session, reader: Contact, today: dt.date) -> list[MissedDays]:
    """The stops that ended in the last SHOWN_DAYS days, oldest first, each with the reminders it cost the plans
    the reader sees; one indexed read when there was none."""
    gaps = gaps_ending_since(session, today - dt.timedelta(days=SHOWN_DAYS))
    if not gaps:
        return []
    plan_ids = visible_plan_ids(session=session, contact=reader)
    keys = set(session.exec(select(Plan.key).where(col(Plan.id).in_(plan_ids))).all())
    return [
        MissedDays(gap.first_day, gap.last_day, sum(n for key, n in gap.skipped.items() if key in keys))
        for gap in gaps
    ]
