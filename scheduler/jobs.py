"""The jobs APScheduler runs: plan (what is due goes into the outbox), dispatch (the outbox goes out), digest.

Each job opens its own session and calls plain functions; no APScheduler job per reminder exists.
"""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session

from duban.config import Settings
from duban.services import inbound
from models import Contact
from models.planning import inputs_version, planned_through, record_gap, record_planned
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
from scheduler.outbox_planner import STALE_LOOKBACK_DAYS, PlanningResult, plan_outbox, reminders_owed
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
    _forgot_messages_on: dt.date | None = None
    # the day and planning_inputs.version last planned (in full, or what the changes up to it touched)
    _planned_as_of: tuple[dt.date, int] | None = None

    @property
    def policy(self) -> ReminderPolicy:
        return ReminderPolicy(
            lead_days=tuple(self.settings.reminder_days), co_notice_days=self.settings.co_notice_days
        )

    def plan(self) -> None:
        """Reminders, re-chases, the overdue ladder and 通报 into the outbox; safe to run any number of times.

        What they owe changes with the day or with a row they read (models/planning.py). The first tick of a day
        reads back to the last day any instance planned in full, whether the process just started or ran on
        through a gap (a database outage, a suspended VM): the send days since then (recording as skipped, and
        in `planning_gap`, those too old to send late) and the rungs of the ladder reached since. On the ordinary
        next day that is the day's send days and the rungs of the last two days; a start reads the whole
        catch-up window besides, a running process that window only for the milestones changed since its last
        tick. A later tick that finds the planning-inputs version it last planned reads that one row and stops;
        one that finds it moved plans again only the milestones the changes touched (scheduler/replan.py). The
        通报 is computed once a week.
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
            # the milestones changes touched since this process's last tick (None: plan everything)
            changed: list[int] | None = []
            new_day = False
            if not first and version is not None and last is not None:
                if version != last[1]:
                    changed = touched_milestones(session=session, since=last[1], upto=version)
                new_day = last[0] != local.date()
                if not new_day:
                    touched = changed
            if touched is None or touched:
                # a start looks back to the last day any instance planned in full; a running process on a new
                # day reads in full only the send days after it, and the earlier ones for what changed
                since = planned_through(session, PLAN_JOB) if touched is None else None
                planned, rechased, escalated = self._plan_day(
                    session, now, first, since, touched, changed if new_day else None
                )
                if touched is None:
                    if since is not None:
                        self._record_gap(session, now, since, planned)
                    record_planned(session, PLAN_JOB, local.date())  # commits the gap with the day
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
        if self._forgot_messages_on != local.date():
            self._forget_old_messages(now)
            self._forgot_messages_on = local.date()

    def _forget_old_messages(self, now: dt.datetime) -> None:
        """Once a day (and once after a start): the ids of messages people sent more than a week ago, which no
        platform redelivers any more (duban/services/inbound.py); one index range, nothing per message."""
        with Session(self.engine) as session:
            forgotten = inbound.forget_before(session=session, before=now - inbound.RETENTION)
        if forgotten:
            log.info("forgot %d incoming messages older than %s", forgotten, inbound.RETENTION)

    def _plan_day(
        self,
        session: Session,
        now: dt.datetime,
        first: bool,
        since: dt.date | None,
        milestone_ids: list[int] | None,
        changed: list[int] | None,
    ) -> tuple[PlanningResult, int, int]:
        """Reminders, re-chases and the ladder: what the day and the rows they read owe (of these milestones only,
        if given). `since`: the last day planned in full, if known; the day's first tick, in a new process or a
        running one, reads back to it and no further. `changed`, on a running process's new day: the milestones
        changes touched since its last tick, which the days planned before did not see; then only the send days
        after `since` are read in full, and the catch-up window for those milestones (None: the whole window is
        read, for every milestone)."""
        tz, catch_up = self.settings.tz, self.settings.catch_up_days
        if since is None:
            # a start with no day on record: as far back as anything can be owed; else a tick for what changed
            # since the day was planned: today's send days and the catch-up window, the rungs of the last two days
            stale_lookback, ladder_lookback = (
                (STALE_LOOKBACK_DAYS, FULL_LOOKBACK_DAYS) if first else (0, STEADY_LOOKBACK_DAYS)
            )
        else:
            # 1 on the ordinary next day, 0 for a restart the same day
            unplanned = (now.astimezone(tz).date() - since).days
            # the send days after `since` that went stale before the catch-up window (every tick plans that
            # window), and the rungs reached since `since`: 0 and 2 on the ordinary next day
            stale_lookback = min(STALE_LOOKBACK_DAYS, max(0, unplanned - 1 - catch_up))
            ladder_lookback = min(FULL_LOOKBACK_DAYS, max(STEADY_LOOKBACK_DAYS, unplanned + 1))
        queue = partial(
            plan_outbox, session=session, now=now, policy=self.policy, tz=tz, catch_up_days=catch_up
        )
        planned = queue(
            stale_lookback_days=stale_lookback,
            milestone_ids=milestone_ids,
            # a running process planned the earlier send days of the window in full already: at 1M milestones
            # the window's eight days cost eight times what the new day does
            after=since if changed is not None and milestone_ids is None else None,
        )
        if changed and milestone_ids is None:
            planned += queue(stale_lookback_days=0, milestone_ids=changed)
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

    def _record_gap(
        self, session: Session, now: dt.datetime, since: dt.date, planned: PlanningResult
    ) -> None:
        """Days after `since` that no tick planned, more than the catch-up window: their earlier send days' reminders
        were recorded as skipped; the gap is recorded once, with how many per plan, and logged, so coordinators
        are told why those reminders never came (the web dashboard)."""
        today = now.astimezone(self.settings.tz).date()
        first, last = since + dt.timedelta(days=1), today - dt.timedelta(days=1)
        window = today - dt.timedelta(days=self.settings.catch_up_days)  # sent late from this send day on
        if first >= window:
            return
        skipped = Counter(planned.stale)
        read_from = window - dt.timedelta(days=STALE_LOOKBACK_DAYS)  # what _plan_day read back to, row by row
        if first < read_from:  # a longer stop: the older send days are counted, not written
            skipped += reminders_owed(
                session=session, first=first, last=read_from - dt.timedelta(days=1), policy=self.policy
            )
        if record_gap(session, PLAN_JOB, first, last, skipped, now):
            log.warning(
                "no tick planned %s to %s (%d days, more than the %d-day catch-up window): %d reminders due "
                "before %s were not sent",
                first,
                last,
                (last - first).days + 1,
                self.settings.catch_up_days,
                sum(skipped.values()),
                window,
            )

    def digest(self) -> None:
        """Monday 09:00: the weekly digest for every lead, text and chart."""
        with Session(self.engine) as session:
            plan_digests(session=session, now=self.clock(), tz=self.settings.tz)

    def dispatcher(self, deliver: Deliver) -> Dispatcher:
        """The dispatcher over the channel the wiring chose (Telegram today)."""

        def on_blocked(session: Session, contact: Contact, now: dt.datetime) -> None:
            tell_coordinators_blocked(session, contact, now, self.settings.tz)

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
