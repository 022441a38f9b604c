"""The jobs APScheduler runs: plan (what is due goes into the outbox), dispatch (the outbox goes out), digest.

Each job opens its own session and calls plain functions; no APScheduler job per reminder exists.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from duban.config import Settings
from models import Contact
from models.planning import inputs_version, planned_through, record_planned
from scheduler.delivery import Deliver
from scheduler.digest_job import plan_digests
from scheduler.dispatcher import Dispatcher, DispatchResult
from scheduler.escalation import (
    FULL_LOOKBACK_DAYS,
    EscalationPolicy,
    plan_escalations,
    plan_rechases,
    plan_tongbao,
    tell_coordinators_blocked,
)
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS, PlanningResult, plan_outbox
from scheduler.policy import ReminderPolicy
from scheduler.replan import forget_changes, touched_milestones

log = logging.getLogger(__name__)
PLAN_JOB = "plan"  # its row in planned_through
STEADY_LOOKBACK_DAYS = (
    2  # a running process ticks every few minutes; two days cover a tick missed at midnight
)


@dataclass
class Jobs:
    engine: Engine
    settings: Settings
    clock: Callable[[], dt.datetime]
    escalation: EscalationPolicy = EscalationPolicy()
    _planned_once: bool = False
    _tongbao_week: tuple[int, int] | None = None
    # the day and planning_inputs.version last planned (in full, or what the changes up to it touched)
    _planned_as_of: tuple[dt.date, int] | None = None

    @property
    def policy(self) -> ReminderPolicy:
        return ReminderPolicy(
            lead_days=tuple(self.settings.reminder_days), co_notice_days=self.settings.co_notice_days
        )

    def plan(self) -> None:
        """Reminders, re-chases, the overdue ladder and 通报 into the outbox; safe to run any number of times.

        What they owe changes with the day or with a row they read (models/planning.py). The day's first tick (and
        the first after a start, which looks back further, so nothing missed while it was down is lost) plans
        everything the day owes: the catch-up window of reminders and the milestones that reached a rung of the
        ladder in the last two days. A later tick that finds the planning-inputs version it last planned reads
        that one row and stops; one that finds it moved plans again only the milestones the changes touched
        (scheduler/replan.py). The 通报 is computed once a week.
        """
        now, tz = self.clock(), self.settings.tz
        first = not self._planned_once
        local = now.astimezone(tz)
        week = local.isocalendar()[:2]
        planned, rechased, escalated, named = PlanningResult(0, 0), 0, 0, 0
        with Session(self.engine) as session:
            # read before what it guards: a change committed while this tick plans moves it past what is kept
            version = inputs_version(session)
            last = self._planned_as_of
            touched: list[int] | None = None
            if not first and version is not None and last is not None and last[0] == local.date():
                if version == last[1]:
                    touched = []
                else:
                    touched = touched_milestones(session=session, since=last[1], upto=version)
            if touched is None or touched:
                # a start looks back to the last day any instance planned in full
                since = planned_through(session, PLAN_JOB) if first else None
                planned, rechased, escalated = self._plan_day(session, now, first, since, touched)
                if touched is None:
                    record_planned(session, PLAN_JOB, local.date())
                self._planned_once = True
            if version is not None and (local.date(), version) != last:
                forget_changes(session=session, upto=version)  # planned now, by this tick or another instance
                self._planned_as_of = (local.date(), version)
            if self._tongbao_week != week:  # computed once a week (and once after a start)
                named = plan_tongbao(session=session, now=now, tz=tz, policy=self.escalation)
                self._tongbao_week = week
        log.info(
            "planned %s reminders, %d re-chases, %d escalations, %d 通报", planned, rechased, escalated, named
        )

    def _plan_day(
        self,
        session: Session,
        now: dt.datetime,
        first: bool,
        since: dt.date | None,
        milestone_ids: list[int] | None,
    ) -> tuple[PlanningResult, int, int]:
        """Reminders, re-chases and the ladder: what the day and the rows they read owe (of these milestones only,
        if given). `since`: the last day planned in full, if known; a start looks back no further than it."""
        tz, catch_up = self.settings.tz, self.settings.catch_up_days
        # a running process: today's send dates and the catch-up window, the rungs reached today and yesterday
        stale_lookback, ladder_lookback = 0, STEADY_LOOKBACK_DAYS
        if first and since is None:  # no day on record: as far back as anything can be owed
            stale_lookback, ladder_lookback = STALE_LOOKBACK_DAYS, FULL_LOOKBACK_DAYS
        elif first and since is not None:
            unplanned = (now.astimezone(tz).date() - since).days  # 0 for a restart the same day
            # what went stale while the service was down: the send dates after `since` that lie before the
            # catch-up window (every tick plans that window)
            stale_lookback = min(STALE_LOOKBACK_DAYS, max(0, unplanned - 1 - catch_up))
            # the rungs reached since `since`
            ladder_lookback = min(FULL_LOOKBACK_DAYS, max(STEADY_LOOKBACK_DAYS, unplanned + 1))
        planned = plan_outbox(
            session=session,
            now=now,
            policy=self.policy,
            tz=tz,
            catch_up_days=catch_up,
            stale_lookback_days=stale_lookback,
            milestone_ids=milestone_ids,
        )
        # re-chases read the reminders of the last weeks, few however large the plans: never scoped
        rechased = plan_rechases(session=session, now=now, tz=tz, policy=self.escalation)
        escalated = plan_escalations(
            session=session,
            now=now,
            tz=tz,
            policy=self.escalation,
            lookback_days=ladder_lookback,
            milestone_ids=milestone_ids,
        )
        return planned, rechased, escalated

    def digest(self) -> None:
        """Monday 09:00: the weekly digest for every lead, text and chart."""
        with Session(self.engine) as session:
            plan_digests(session=session, now=self.clock(), tz=self.settings.tz)

    def dispatcher(self, deliver: Deliver) -> Dispatcher:
        """The dispatcher over the channel the wiring chose (Telegram today)."""

        def on_blocked(session: Session, contact: Contact, now: dt.datetime) -> None:
            tell_coordinators_blocked(session, contact, now)

        return Dispatcher(
            engine=self.engine,
            deliver=deliver,
            clock=self.clock,
            on_blocked=on_blocked,
            claim_seconds=self.settings.claim_seconds,
            tz=self.settings.tz,
        )


MAX_BATCHES_PER_RUN = 200


async def dispatch(dispatcher: Dispatcher) -> DispatchResult:
    """Send batch after batch until nothing due is left, so the pacer, not the job interval, sets the rate."""
    total = DispatchResult()
    for _ in range(MAX_BATCHES_PER_RUN):
        batch = await dispatcher.run_once()
        if not (batch.sent or batch.failed or batch.retried):
            break
        total.sent += batch.sent
        total.failed += batch.failed
        total.retried += batch.retried
        total.rejected += batch.rejected
        total.blocked_contacts += batch.blocked_contacts
    if total.sent or total.failed or total.retried:
        log.info("dispatched: %s", total)
    return total
