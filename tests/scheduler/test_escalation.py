"""Re-chase, acknowledgement, snooze, the overdue ladder and 通报."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from duban.services.oversight import pause_escalation
from duban.services.progress import record_report
from duban.services.reminders import acknowledge, snooze
from models import ContactRole, EscalationStep, Milestone, Notification, Plan, ReportStatus, Task
from scheduler.escalation import EscalationPolicy, plan_escalations, plan_rechases, plan_tongbao
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import SHANGHAI, local, shown

POLICY = EscalationPolicy()


def _sent_reminders(session: Session, now: dt.datetime) -> list[Notification]:
    plan_outbox(session=session, now=now, policy=ReminderPolicy(), tz=SHANGHAI)
    rows = session.exec(select(Notification).where(Notification.kind == "reminder")).all()
    for row in rows:  # as the dispatcher would record them
        row.sent_at = now
        row.platform_message_id = str(5000 + (row.id or 0))
        session.add(row)
    session.commit()
    return list(rows)


def _kinds(session: Session, kind: str) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.kind == kind)).all())


def test_an_unacknowledged_reminder_is_chased_once_after_two_working_days(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    reminders = _sent_reminders(seeded, local("2025-12-24", 9))  # Wednesday
    assert reminders
    assert plan_rechases(session=seeded, now=local("2025-12-25", 10), tz=SHANGHAI, policy=POLICY) == 0
    chased = plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    assert chased == len(reminders)
    assert plan_rechases(session=seeded, now=local("2025-12-29", 10), tz=SHANGHAI, policy=POLICY) == 0
    assert all(
        shown(seeded, row).startswith("<b>🔁 再次提醒（尚未签收）</b>") for row in _kinds(seeded, "rechase")
    )


def test_acknowledgement_or_a_report_stops_the_rechase(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教体局", 1001)
    first, second, *rest = _sent_reminders(seeded, local("2025-12-24", 9))
    acknowledge(session=seeded, contact=contact, notification_id=first.id, now=local("2025-12-24", 11))
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=second.milestone_id,
        status=ReportStatus.on_track,
        percent=50,
        note="",
        now=local("2025-12-24", 12),
    )
    plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    chased_keys = {row.idempotency_key for row in _kinds(seeded, "rechase")}
    assert f"rechase:n{first.id}" not in chased_keys
    assert f"rechase:n{second.id}" not in chased_keys
    assert {f"rechase:n{r.id}" for r in rest if r.milestone_id != second.milestone_id} <= chased_keys


def test_snooze_sends_the_same_reminder_again_later_and_counts_as_seen(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教体局", 1001)
    first, *_ = _sent_reminders(seeded, local("2025-12-24", 9))
    again = snooze(
        session=seeded,
        contact=contact,
        notification_id=first.id,
        days=3,
        now=local("2025-12-24", 23),
        tz=SHANGHAI,
    )
    assert (again.kind, again.milestone_id, again.payload) == (first.kind, first.milestone_id, first.payload)
    assert again.due_at.astimezone(SHANGHAI) == local(
        "2025-12-29", 8
    )  # 12-27 night -> Saturday -> Monday 08:00
    assert seeded.get(Notification, first.id).acknowledged_at is not None  # type: ignore[union-attr]


def _zichuan_task_two(session: Session) -> Milestone:
    return session.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
    ).one()


def test_the_overdue_ladder_day_one_weekly_then_the_department_lead_and_it_stops_when_paused(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    leader = join("区教体局", 3003, ContactRole.lead)
    milestone = _zichuan_task_two(seeded)

    def steps_for(contact_id: int) -> list[int]:
        return sorted(
            s.step
            for s in seeded.exec(
                select(EscalationStep).where(
                    EscalationStep.milestone_id == milestone.id, EscalationStep.contact_id == contact_id
                )
            ).all()
        )

    for day in ("2025-12-31", "2026-01-01", "2026-01-02", "2026-01-07", "2026-01-14", "2026-01-15"):
        plan_escalations(session=seeded, now=local(day, 10), tz=SHANGHAI, policy=POLICY)
    # day 1 (2026-01-01) is step 0, day 7 step 1, day 14 step 2; nothing on the due date itself
    assert steps_for(contact.id) == [0, 1, 2]
    assert steps_for(coordinator.id) == [0, 1, 2]
    assert steps_for(leader.id) == [2]  # 催办 from day 14
    notices = [
        n
        for n in _kinds(seeded, "overdue")
        if n.contact_id == contact.id and "（二） 实施教育强镇筑基行动" in shown(seeded, n)
    ]
    assert len(notices) == 3  # named in the bundled message of each run where it reached a new rung
    assert "（二） 实施教育强镇筑基行动" in shown(seeded, notices[0]) and "已逾期 1 天" in shown(
        seeded, notices[0]
    )
    assert "催办" in shown(seeded, notices[-1])
    assert {s.notification_id for s in seeded.exec(select(EscalationStep)).all()} <= {
        n.id for n in _kinds(seeded, "overdue")
    }

    pause_escalation(
        session=seeded,
        coordinator=coordinator,
        milestone_id=milestone.id,
        days=14,
        reason="等待审批",
        now=local("2026-01-15"),
        today=dt.date(2026, 1, 15),
    )
    plan_escalations(session=seeded, now=local("2026-01-21", 10), tz=SHANGHAI, policy=POLICY)
    assert steps_for(contact.id) == [0, 1, 2]


def test_a_closed_milestone_is_not_escalated(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    milestone = _zichuan_task_two(seeded)
    milestone.status = "done"
    milestone.done_at = local("2025-12-30")
    seeded.add(milestone)
    seeded.commit()
    plan_escalations(session=seeded, now=local("2026-01-08", 10), tz=SHANGHAI, policy=POLICY)
    assert not seeded.exec(select(EscalationStep).where(EscalationStep.milestone_id == milestone.id)).all()


def test_tongbao_names_departments_overdue_thirty_days_once_a_week(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    assert plan_tongbao(session=seeded, now=local("2026-01-20"), tz=SHANGHAI, policy=POLICY) == 1
    [january] = _kinds(seeded, "tongbao")
    assert "（二） 实施教育强镇筑基行动" not in shown(seeded, january)  # only 20 days overdue yet
    assert plan_tongbao(session=seeded, now=local("2026-01-21"), tz=SHANGHAI, policy=POLICY) == 0  # same week
    assert plan_tongbao(session=seeded, now=local("2026-02-02"), tz=SHANGHAI, policy=POLICY) == 1
    message = [n for n in _kinds(seeded, "tongbao") if n.contact_id == coordinator.id][-1]
    text = shown(seeded, message)
    assert text.startswith("<b>通报：逾期 30 天以上的时间节点</b>\n淄川区推进乡村教育振兴工作方案\n")
    assert "\n<b>区教体局</b>\n" in text and "· （二） 实施教育强镇筑基行动" in text


def test_ticking_daily_with_a_short_look_back_reaches_the_same_rungs_as_reading_everything(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    join("区教体局", 1001)
    join("区教体局", 2002, ContactRole.coordinator)
    join("区教体局", 3003, ContactRole.lead)

    def run(lookback: int) -> set[tuple[int, dt.date, int, int]]:
        day = dt.date(2025, 12, 29)
        while day <= dt.date(2026, 2, 20):
            plan_escalations(
                session=seeded,
                now=local(day.isoformat(), 10),
                tz=SHANGHAI,
                policy=POLICY,
                lookback_days=7 if day == dt.date(2025, 12, 29) else lookback,  # as after a start
            )
            day += dt.timedelta(days=1)
        steps = {
            (s.milestone_id, s.instance_due_on, s.step, s.contact_id)
            for s in seeded.exec(select(EscalationStep))
        }
        for table in (EscalationStep, Notification):
            for row in seeded.exec(select(table)).all():
                seeded.delete(row)
        seeded.commit()
        return steps

    incremental = run(2)
    assert incremental and incremental == run(7)
