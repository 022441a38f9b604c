"""Re-chase, acknowledgement, snooze, the overdue ladder and 通报."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, col, select

from duban.services.invites import create_invite, deactivate_contact, redeem_invite, resolve_department
from duban.services.outbox import follow_current_contacts
from duban.services.oversight import pause_escalation
from duban.services.progress import record_report
from duban.services.reminders import acknowledge, snooze
from duban.status import overdue_views
from models import (
    Contact,
    ContactRole,
    Department,
    DepartmentRole,
    EscalationStep,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ReportStatus,
    Task,
    TaskDepartment,
)
from scheduler import escalation
from scheduler.escalation import (
    EscalationPolicy,
    plan_escalations,
    plan_rechases,
    plan_tongbao,
    tell_coordinators_blocked,
)
from scheduler.outbox_planner import plan_outbox
from scheduler.policy import ReminderPolicy
from tests.scheduler.conftest import SHANGHAI, joined_in, local, own_county, shown
from tests.zones import DEFAULT_TZ

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


def _item(session: Session, row: Notification) -> str:
    """How a message names the milestone of `row`: its task's reference and title."""
    milestone = session.get(Milestone, row.milestone_id)
    assert milestone is not None
    task = session.get(Task, milestone.task_id)
    assert task is not None
    return f"{task.ref} {task.title}"


def _kinds(session: Session, kind: str) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.kind == kind)).all())


@pytest.fixture(params=[escalation.RECHASES_PER_PART, 2], ids=["one-part", "parts-of-two"])
def rechase_parts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Re-chases are judged a part of the unanswered reminders at a time: the same chases, whatever the part."""
    monkeypatch.setattr(escalation, "RECHASES_PER_PART", request.param)
    return int(request.param)


def test_an_unacknowledged_reminder_is_chased_once_after_two_working_days(
    seeded: Session, join, rechase_parts
) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    reminders = _sent_reminders(seeded, local("2025-12-24", 9))  # Wednesday
    assert len(reminders) > 2  # more than one part of two
    assert plan_rechases(session=seeded, now=local("2025-12-25", 10), tz=SHANGHAI, policy=POLICY) == 0
    chased = plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    assert chased == len(reminders)
    assert plan_rechases(session=seeded, now=local("2025-12-29", 10), tz=SHANGHAI, policy=POLICY) == 0
    assert all(
        shown(seeded, row).startswith("<b>🔁 再次提醒（尚未签收）</b>") for row in _kinds(seeded, "rechase")
    )


def test_a_rechase_after_the_due_date_says_how_many_days_overdue(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    _sent_reminders(seeded, local("2025-12-30", 9))  # the day before 2025-12-31
    # two working days later: 31 December, then 4 January (a Sunday worked for the New Year holiday)
    assert plan_rechases(session=seeded, now=local("2026-01-04", 10), tz=SHANGHAI, policy=POLICY) > 0
    late = [row for row in _kinds(seeded, "rechase") if row.instance_due_on == dt.date(2025, 12, 31)]
    assert late
    for text in (shown(seeded, row) for row in late):
        assert "到期，已逾期 4 天" in text and "还有 -" not in text, text  # 2025-12-31, or 2025-12-31（每年）


def test_acknowledgement_or_a_report_stops_the_rechase(seeded: Session, join, rechase_parts) -> None:  # type: ignore[no-untyped-def]
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
        tz=DEFAULT_TZ,
    )
    plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    chased_keys = {row.idempotency_key for row in _kinds(seeded, "rechase")}
    assert f"rechase:n{first.id}" not in chased_keys
    assert f"rechase:n{second.id}" not in chased_keys
    assert {f"rechase:n{r.id}" for r in rest if r.milestone_id != second.milestone_id} <= chased_keys


def test_reports_on_several_milestones_each_stop_their_own_rechase(
    seeded: Session, join, rechase_parts
) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教体局", 1001)
    reminders = _sent_reminders(seeded, local("2025-12-24", 9))
    by_milestone = sorted(reminders, key=lambda r: r.milestone_id or 0)
    reported = {by_milestone[0].milestone_id, by_milestone[-1].milestone_id}  # the lowest and highest ids
    for hour, milestone_id in enumerate(sorted(reported, key=lambda m: m or 0), start=11):
        record_report(
            session=seeded,
            contact=contact,
            milestone_id=milestone_id or 0,
            status=ReportStatus.on_track,
            percent=50,
            note="",
            now=local("2025-12-24", hour),
            tz=DEFAULT_TZ,
        )
    plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    chased = {row.payload["of"] for row in _kinds(seeded, "rechase")}
    assert chased == {r.id for r in reminders if r.milestone_id not in reported}


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


def milestone_plan(session: Session, milestone: Milestone) -> int:
    task = session.get(Task, milestone.task_id)
    assert task is not None
    return task.plan_id


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
    # queued on day 1 (2026-01-01, a holiday), it goes out on 2026-01-04 (a Sunday worked) and says so
    assert "（二） 实施教育强镇筑基行动" in shown(seeded, notices[0]) and "已逾期 4 天" in shown(
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


def test_each_rung_is_reached_on_its_day_ticking_daily_and_the_lead_joins_on_day_fourteen(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    leader = join("区教体局", 3003, ContactRole.lead)
    milestone = _zichuan_task_two(seeded)  # due 2025-12-31
    day = dt.date(2025, 12, 31)
    while day <= dt.date(2026, 1, 15):
        plan_escalations(
            session=seeded,
            now=local(day.isoformat(), 10),
            tz=SHANGHAI,
            policy=POLICY,
            lookback_days=7 if day == dt.date(2025, 12, 31) else 1,  # the shortest look-back that works daily
        )
        day += dt.timedelta(days=1)
    reached = sorted(
        (s.contact_id == leader.id, s.step, s.at)
        for s in seeded.exec(select(EscalationStep).where(EscalationStep.milestone_id == milestone.id)).all()
        if s.contact_id in (contact.id, leader.id)
    )
    assert reached == [
        (False, 0, local("2026-01-01", 10)),  # day 1
        (False, 1, local("2026-01-07", 10)),  # day 7
        (False, 2, local("2026-01-14", 10)),  # day 14
        (True, 2, local("2026-01-14", 10)),  # 催办: the department's lead from day 14, not 15
    ]


def test_a_closed_milestone_is_not_escalated(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    milestone = _zichuan_task_two(seeded)
    milestone.status = "done"
    milestone.done_at = local("2025-12-30")
    seeded.add(milestone)
    seeded.commit()
    plan_escalations(session=seeded, now=local("2026-01-08", 10), tz=SHANGHAI, policy=POLICY)
    assert not seeded.exec(select(EscalationStep).where(EscalationStep.milestone_id == milestone.id)).all()


def test_a_withdrawn_milestone_is_not_escalated_and_a_tongbao_queued_before_names_it_no_more(
    seeded: Session, join
) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    milestone = _zichuan_task_two(seeded)
    assert plan_tongbao(session=seeded, now=local("2026-02-02"), tz=SHANGHAI, policy=POLICY) == 1
    [queued] = [n for n in _kinds(seeded, "tongbao") if n.contact_id == coordinator.id]
    assert "· （二） 实施教育强镇筑基行动" in shown(seeded, queued)

    milestone.status = MilestoneStatus.withdrawn  # a re-seed left it out before the 通报 went out
    seeded.add(milestone)
    seeded.commit()
    assert "（二） 实施教育强镇筑基行动" not in shown(seeded, queued)
    plan_escalations(session=seeded, now=local("2026-02-02", 10), tz=SHANGHAI, policy=POLICY)
    assert not seeded.exec(select(EscalationStep).where(EscalationStep.milestone_id == milestone.id)).all()
    plan_tongbao(session=seeded, now=local("2026-02-09"), tz=SHANGHAI, policy=POLICY)  # the next week's
    assert all(
        "（二） 实施教育强镇筑基行动" not in shown(seeded, n)
        for n in _kinds(seeded, "tongbao")
        if n.contact_id == coordinator.id
    )


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


def test_tongbao_written_a_plan_at_a_time_tells_every_county_what_one_pass_would(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for user_id, (department, region) in enumerate(
        [
            ("市教体局", "安丘市"),
            ("区教育体育局", "济南市长清区"),
            ("教育和体育分局", "聊城高新区"),
            ("教育科", "重庆市彭水县"),
            ("区教体局", "淄博市淄川区"),
        ],
        start=2100,
    ):
        join(department, user_id, ContactRole.coordinator, region=region)
    one_pass = plan_tongbao(session=seeded, now=local("2026-02-02"), tz=SHANGHAI, policy=POLICY)
    told = {(n.contact_id, shown(seeded, n)) for n in _kinds(seeded, "tongbao")}
    for row in _kinds(seeded, "tongbao"):
        seeded.delete(row)
    seeded.commit()

    monkeypatch.setattr(escalation, "TONGBAO_PLANS_PER_COMMIT", 2)  # five plans: parts of 2, 2 and 1
    assert plan_tongbao(session=seeded, now=local("2026-02-02"), tz=SHANGHAI, policy=POLICY) == one_pass
    assert {(n.contact_id, shown(seeded, n)) for n in _kinds(seeded, "tongbao")} == told
    assert one_pass == len({contact for contact, _ in told}) >= 3  # counties with milestones 30 days overdue


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


# ---------------------------------------------------------------- 通报 of a county of our own


def _county_with_laggards(session: Session) -> tuple[Plan, Plan]:
    """甲县: a plan with nothing overdue (read first), and one whose tasks are overdue 61, 30 and 29 days on
    2026-01-30, plus one overdue 61 days whose escalation is paused until that day."""
    quiet = Plan(
        key="a-quiet", title="甲县无逾期方案", issuer="甲县", issued_on=dt.date(2025, 1, 1), region="甲县"
    )
    late = Plan(
        key="b-late", title="甲县逾期方案", issuer="甲县", issued_on=dt.date(2025, 1, 1), region="甲县"
    )
    names = ("教育局", "教体局", "财政局", "住建局")
    departments = {name: Department(name=name, region="甲县") for name in names}
    session.add_all([quiet, late, *departments.values()])
    session.flush()

    def task(plan: Plan, position: int, due: dt.date, lead: str, co: str | None = None) -> Milestone:
        task = Task(
            plan_id=plan.id or 0,
            ref=f"（{'一二三四'[position]}）",
            section="body",
            title=f"{lead}的任务",
            text="…",
            position=position,
        )
        session.add(task)
        session.flush()
        for name, role in ((lead, DepartmentRole.lead), (co, DepartmentRole.co)):
            if name:
                session.add(
                    TaskDepartment(
                        task_id=task.id or 0,
                        department_id=departments[name].id or 0,
                        role=role,
                        printed_as=name,
                    )
                )
        milestone = Milestone(task_id=task.id or 0, due_on=due, target="目标")
        session.add(milestone)
        return milestone

    task(quiet, 0, dt.date(2026, 6, 30), "教体局")
    paused = task(late, 0, dt.date(2025, 11, 30), "住建局")
    paused.escalation_paused_until = dt.date(2026, 1, 30)  # still paused on that day
    task(late, 1, dt.date(2025, 12, 31), "教体局", co="财政局")  # 30 days
    task(late, 2, dt.date(2025, 11, 30), "住建局")  # 61 days
    task(late, 3, dt.date(2026, 1, 1), "教体局")  # 29 days: not yet
    session.commit()
    return quiet, late


def _coordinator(session: Session, user_id: int) -> Contact:
    department = resolve_department(session=session, name="教育局", region="甲县")
    issued = create_invite(
        session=session,
        department=department,
        role=ContactRole.coordinator,
        now=local("2025-01-01"),
        ttl=dt.timedelta(days=7),
    )
    return redeem_invite(
        session=session,
        token=issued.token,
        telegram_user_id=user_id,
        language="zh_CN",
        now=local("2025-01-01"),
    )


def test_tongbao_lists_lead_departments_from_day_thirty_skips_paused_ones_and_waits_for_morning(
    session: Session,
) -> None:
    quiet, late = _county_with_laggards(session)
    first, second = _coordinator(session, 2001), _coordinator(session, 2002)

    # 07:00 on the 30th day: the day counts in county time; the message waits for the 08:00 end of quiet hours
    assert plan_tongbao(session=session, now=local("2026-01-30", 7), tz=SHANGHAI, policy=POLICY) == 2

    rows = _kinds(session, "tongbao")
    assert sorted((r.contact_id, r.payload["plan_id"]) for r in rows) == [
        (first.id, late.id),
        (second.id, late.id),
    ]
    assert {r.due_at.astimezone(SHANGHAI) for r in rows} == {local("2026-01-30", 8)}
    assert shown(session, rows[0]) == (
        "<b>通报：逾期 30 天以上的时间节点</b>\n"
        "甲县逾期方案\n"
        "\n<b>住建局</b>\n· （三） 住建局的任务\n"
        "\n<b>教体局</b>\n· （二） 教体局的任务"
    )
    assert plan_tongbao(session=session, now=local("2026-01-31", 10), tz=SHANGHAI, policy=POLICY) == 0
    assert quiet.id != late.id


def test_a_reminder_to_someone_deactivated_since_is_not_chased_and_the_others_still_are(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
    rechase_parts: int,
) -> None:
    join("区教体局", 1001)
    join("市教体局", 1002)
    first, *rest = _sent_reminders(seeded, local("2025-12-24", 9))
    gone = first.contact_id  # the first reminder's recipient leaves; everyone after them is still chased
    deactivate_contact(session=seeded, contact_id=gone, now=local("2025-12-25"))
    plan_rechases(session=seeded, now=local("2025-12-26", 10), tz=SHANGHAI, policy=POLICY)
    chased = _kinds(seeded, "rechase")
    assert sorted(r.payload["of"] for r in chased) == sorted(r.id for r in rest if r.contact_id != gone)
    assert chased and {r.contact_id for r in chased}.isdisjoint({gone})


def test_a_rechase_follows_the_departments_new_contact_and_drops_what_was_acknowledged_since(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    old = join("区教体局", 1001)
    first, second, *_ = _sent_reminders(seeded, local("2025-12-24", 9))
    plan_rechases(
        session=seeded, now=local("2025-12-26", 7), tz=SHANGHAI, policy=POLICY
    )  # queued before 08:00
    acknowledge(session=seeded, contact=old, notification_id=first.id, now=local("2025-12-26", 7, 30))
    deactivate_contact(session=seeded, contact_id=old.id, now=local("2025-12-26", 7, 40))
    new = join("区教体局", 1003)
    follow_current_contacts(seeded)
    seeded.commit()
    chased = _kinds(seeded, "rechase")
    assert {r.contact_id for r in chased} == {new.id}
    [second_chase] = [r for r in chased if r.payload["of"] == second.id]
    assert second_chase.instance_due_on == second.instance_due_on
    text = shown(seeded, second_chase)
    assert text.startswith("<b>🔁 再次提醒（尚未签收）</b>")
    assert _item(seeded, second) in text and _item(seeded, first) not in text


def test_only_reminders_are_chased_and_only_for_thirty_days(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    join("区教体局", 1001)
    join("区教体局", 2002, ContactRole.coordinator)
    plan_escalations(session=seeded, now=local("2026-01-01", 10), tz=SHANGHAI, policy=POLICY)
    for row in _kinds(seeded, "overdue"):  # sent, never acknowledged: an overdue notice has nothing to sign
        row.sent_at = local("2026-01-01", 10)
        seeded.add(row)
    seeded.commit()
    old = _sent_reminders(seeded, local("2025-11-20", 9))
    assert old and _kinds(seeded, "overdue")
    # long past two working days for all of them; the reminders are older than the 30-day window
    assert plan_rechases(session=seeded, now=local("2026-01-07", 10), tz=SHANGHAI, policy=POLICY) == 0
    assert _kinds(seeded, "rechase") == []


def test_in_our_county_the_oldest_overdue_milestone_is_escalated_on_day_one_and_a_paused_one_holds_up_no_other(
    session: Session,
) -> None:
    _quiet, _late = _county_with_laggards(session)  # two milestones due 2025-11-30, the first one paused
    department = resolve_department(session=session, name="住建局", region="甲县")
    issued = create_invite(
        session=session,
        department=department,
        role=ContactRole.contact,
        now=local("2025-01-01"),
        ttl=dt.timedelta(days=7),
    )
    contact = redeem_invite(
        session=session, token=issued.token, telegram_user_id=4004, language="zh_CN", now=local("2025-01-01")
    )
    assert plan_escalations(session=session, now=local("2025-12-01", 10), tz=SHANGHAI, policy=POLICY) == 1
    [notice] = _kinds(session, "overdue")
    assert notice.contact_id == contact.id
    assert [item["days"] for item in notice.payload["items"]] == [1]
    assert "（三） 住建局的任务" in shown(session, notice) and "（一）" not in shown(session, notice)
    # still paused on the last day of its pause (2026-01-30), and no rung is recorded for it then either
    plan_escalations(session=session, now=local("2026-01-30", 10), tz=SHANGHAI, policy=POLICY)
    paused = session.exec(select(Milestone).where(col(Milestone.escalation_paused_until).is_not(None))).one()
    assert session.exec(select(EscalationStep).where(EscalationStep.milestone_id == paused.id)).all() == []


def test_a_contact_who_blocked_the_bot_is_reported_to_their_own_countys_coordinators_only(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)  # 淄川区
    own = join("区教体局", 2002, ContactRole.coordinator)
    join("市教体局", 2003, ContactRole.coordinator)  # 安丘市: another county
    tell_coordinators_blocked(seeded, contact, local("2026-01-05"), DEFAULT_TZ)
    assert [(r.contact_id, r.payload) for r in _kinds(seeded, "blocked")] == [
        (own.id, {"contact_id": contact.id})
    ]


def _zichuan_yearly(session: Session, ref: str) -> Milestone:
    return session.exec(
        select(Milestone)
        .join(Task)
        .join(Plan)
        .where(Plan.key == "zibo-zichuan-2023", Task.ref == ref, Milestone.recurrence == "yearly")
    ).one()


def test_an_overdue_yearly_duty_climbs_the_ladder_from_day_one_and_one_reported_on_does_not(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    silent, answered = (
        _zichuan_yearly(seeded, "（五）"),
        _zichuan_yearly(seeded, "（八）"),
    )  # each due every 12-31
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=answered.id or 0,
        status=ReportStatus.on_track,
        percent=80,
        note="",
        now=local("2025-12-30"),
        tz=DEFAULT_TZ,
    )
    for day in ("2025-12-31", "2026-01-01"):
        plan_escalations(session=seeded, now=local(day, 10), tz=SHANGHAI, policy=POLICY)
    # a later tick the same day reaches no new rung and tells nobody again
    assert plan_escalations(session=seeded, now=local("2026-01-01", 11), tz=SHANGHAI, policy=POLICY) == 0
    rungs = {
        (s.milestone_id, s.instance_due_on, s.step, s.at)
        for s in seeded.exec(select(EscalationStep).where(EscalationStep.contact_id == contact.id)).all()
        if s.milestone_id in (silent.id, answered.id) and s.at == local("2026-01-01", 10)
    }
    # the day after the 2025 instance was due: the silent duty's first rung, nothing for the answered one
    assert rungs == {(silent.id, dt.date(2025, 12, 31), 0, local("2026-01-01", 10))}


def test_tongbao_names_a_county_whose_only_late_milestones_are_yearly_duties(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    one_offs = seeded.exec(
        select(Milestone)
        .join(Task)
        .join(Plan)
        .where(Plan.key == "zibo-zichuan-2023", Milestone.recurrence == "none")
    ).all()
    for milestone in one_offs:  # every dated target of 淄川 closed out (销号)
        milestone.status = MilestoneStatus.done
        milestone.done_at = local("2025-01-01")
        seeded.add(milestone)
    seeded.commit()
    silent = _zichuan_yearly(seeded, "（五）")  # due every 12-31: the 2025 instance is 33 days late on 02-02

    assert plan_tongbao(session=seeded, now=local("2026-02-02"), tz=SHANGHAI, policy=POLICY) == 1
    [message] = [n for n in _kinds(seeded, "tongbao") if n.contact_id == coordinator.id]
    text = shown(seeded, message)
    task = seeded.get(Task, silent.task_id)
    assert task is not None
    assert f"· {task.ref} {task.title}" in text
    assert "（二） 实施教育强镇筑基行动" not in text  # closed out


# ---------------------------------------------------------------- who is told, and when (issue 26's survivors)


def _overdue_items(session: Session, contact_id: int | None = None) -> set[tuple[int, int, str, int]]:
    """(recipient, milestone, instance due, days overdue) of every item of every overdue notice queued."""
    session.expire_all()
    return {
        (row.contact_id or 0, item["m"], item["due"], item["days"])
        for row in _kinds(session, "overdue")
        if contact_id in (None, row.contact_id)
        for item in row.payload["items"]
    }


def test_a_department_lead_who_joined_first_holds_up_no_one_on_day_one(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    leader = join(
        "区教体局", 3003, ContactRole.lead
    )  # the lowest id: first in line, and not told before day 14
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    milestone = _zichuan_task_two(seeded)  # due 2025-12-31
    plan_escalations(session=seeded, now=local("2026-01-01", 10), tz=SHANGHAI, policy=POLICY)
    told = {(who, due, days) for who, m, due, days in _overdue_items(seeded) if m == milestone.id}
    assert told == {(contact.id, "2025-12-31", 1), (coordinator.id, "2025-12-31", 1)}
    plan_escalations(session=seeded, now=local("2026-01-14", 10), tz=SHANGHAI, policy=POLICY)
    assert (leader.id, milestone.id, "2025-12-31", 14) in _overdue_items(seeded, leader.id)


def test_a_recurring_duty_is_escalated_by_its_unanswered_instance_never_by_its_first_due_date(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    silent, answered = (
        _zichuan_yearly(seeded, "（五）"),
        _zichuan_yearly(seeded, "（八）"),
    )  # first due 2023-12-31
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=answered.id or 0,
        status=ReportStatus.done,
        percent=100,
        note="",
        now=local("2025-12-30"),
        tz=DEFAULT_TZ,
    )
    day = dt.date(2026, 1, 1)
    while day <= dt.date(2026, 1, 8):  # 2026-01-04 is day 735 after 2023-12-31, a multiple of 7
        plan_escalations(
            session=seeded, now=local(day.isoformat(), 10), tz=SHANGHAI, policy=POLICY, lookback_days=2
        )
        day += dt.timedelta(days=1)
    duties = {silent.id, answered.id}
    told = {(m, due, days) for _who, m, due, days in _overdue_items(seeded, contact.id) if m in duties}
    assert told == {(silent.id, "2025-12-31", 1), (silent.id, "2025-12-31", 7)}


def test_a_closed_yearly_duty_is_not_escalated_whatever_its_reports(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教体局", 1001)
    duty = _zichuan_yearly(seeded, "（五）")  # nobody reported on its 2025 instance
    duty.status = MilestoneStatus.done  # 销号: closed for good
    duty.done_at = local("2025-12-20")
    seeded.add(duty)
    seeded.commit()
    plan_escalations(session=seeded, now=local("2026-01-01", 10), tz=SHANGHAI, policy=POLICY)
    assert _overdue_items(seeded, contact.id)  # the open milestones due 2025-12-31 ...
    assert all(m != duty.id for _who, m, _due, _days in _overdue_items(seeded))  # ... not the closed duty


def test_a_report_made_today_stops_todays_rung(seeded: Session, join) -> None:  # type: ignore[no-untyped-def]
    contact = join("区教体局", 1001)
    duty = _zichuan_yearly(seeded, "（五）")  # its 2025 instance is one day overdue on 2026-01-01
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=duty.id or 0,
        status=ReportStatus.done,
        percent=100,
        note="2025年度已完成",
        now=local("2026-01-01", 9, 30),
        tz=DEFAULT_TZ,
    )
    plan_escalations(session=seeded, now=local("2026-01-01", 10), tz=SHANGHAI, policy=POLICY)
    assert _overdue_items(seeded, contact.id)
    assert all(m != duty.id for _who, m, _due, _days in _overdue_items(seeded))


def test_at_five_past_midnight_china_time_the_ladder_and_the_rechase_count_the_new_day(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    """00:05 in Shanghai is 16:05 UTC the day before: a running process's first tick of the day plans it."""
    contact = join("区教体局", 1001)
    milestone = _zichuan_task_two(seeded)
    _sent_reminders(seeded, local("2025-12-24", 9))  # the 7-day reminders, sent on Wednesday
    # two working days later, on Friday: chased at the day's first tick, sent at 08:00
    assert plan_rechases(session=seeded, now=local("2025-12-26", 0, 5), tz=SHANGHAI, policy=POLICY) > 0
    assert {row.due_at for row in _kinds(seeded, "rechase")} == {local("2025-12-26", 8)}
    plan_escalations(session=seeded, now=local("2026-01-01", 10), tz=SHANGHAI, policy=POLICY)  # day one
    plan_escalations(
        session=seeded, now=local("2026-01-07", 0, 5), tz=SHANGHAI, policy=POLICY, lookback_days=2
    )
    [_, week] = sorted(_kinds(seeded, "overdue"), key=lambda row: row.due_at)
    assert week.contact_id == contact.id and week.due_at == local("2026-01-07", 8)
    assert (contact.id, milestone.id, "2025-12-31", 7) in _overdue_items(seeded)


def test_an_overdue_notice_follows_the_departments_new_contact_and_a_coordinators_stays_theirs(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    old = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    join("区教体局", 1003)  # another contact of the department, who would inherit a coordinator's notice
    plan_escalations(session=seeded, now=local("2026-01-01", 0, 5), tz=SHANGHAI, policy=POLICY)  # due 08:00
    items = {row.contact_id: row.payload["items"] for row in _kinds(seeded, "overdue")}
    deactivate_contact(session=seeded, contact_id=old.id, now=local("2026-01-01", 7))
    deactivate_contact(session=seeded, contact_id=coordinator.id, now=local("2026-01-01", 7))
    new = join("区教体局", 1004)
    follow_current_contacts(seeded)  # what the dispatcher does before it sends
    seeded.commit()
    seeded.expire_all()
    now_with = {row.contact_id: row.payload["items"] for row in _kinds(seeded, "overdue")}
    assert now_with[new.id] == items[old.id] and old.id not in now_with
    # a coordinator's notice names the county's milestones: it stays theirs, never a department contact's
    assert now_with[coordinator.id] == items[coordinator.id] and len(now_with) == len(items)


def test_a_county_whose_only_laggard_is_exactly_thirty_days_overdue_gets_its_tongbao(
    session: Session,
) -> None:
    [milestone] = own_county(session, "乙县", [(dt.date(2025, 12, 31), "教体局", None, "none")])
    coordinator = joined_in(session, "乙县", "教体局", ContactRole.coordinator, 2001)
    assert plan_tongbao(session=session, now=local("2026-01-29"), tz=SHANGHAI, policy=POLICY) == 0  # 29 days
    assert plan_tongbao(session=session, now=local("2026-01-30"), tz=SHANGHAI, policy=POLICY) == 1  # 30 days
    [row] = _kinds(session, "tongbao")
    assert (row.contact_id, row.payload["departments"]) == (coordinator.id, {"教体局": [milestone.id]})


def test_a_laggard_without_a_lead_department_keeps_no_one_else_off_the_tongbao(session: Session) -> None:
    """A task printed with co departments only names no department to report; the others are still named."""
    orphan, named = own_county(
        session,
        "乙县",
        [(dt.date(2025, 11, 30), None, "财政局", "none"), (dt.date(2025, 11, 30), "教体局", None, "none")],
    )
    coordinator = joined_in(session, "乙县", "教体局", ContactRole.coordinator, 2001)
    assert plan_tongbao(session=session, now=local("2026-01-05"), tz=SHANGHAI, policy=POLICY) == 1
    [row] = _kinds(session, "tongbao")
    assert (row.contact_id, row.payload["departments"]) == (coordinator.id, {"教体局": [named.id]})
    assert orphan.id != named.id


def test_an_unanswered_monthly_duty_reaches_day_28_on_the_day_its_next_instance_falls_due(
    session: Session,
) -> None:
    """February 2026 has 28 days: the 02-25 report, never made, is 28 days late on 03-25 (a weekly rung), the
    day the March one is due; the March one is one day late on 03-26."""
    [duty] = own_county(session, "乙县", [(dt.date(2025, 1, 25), "教体局", None, "monthly")])
    contact = joined_in(session, "乙县", "教体局", ContactRole.contact, 1001)
    day = dt.date(2026, 3, 18)
    while day <= dt.date(2026, 3, 26):
        plan_escalations(
            session=session,
            now=local(day.isoformat(), 10),
            tz=SHANGHAI,
            policy=POLICY,
            lookback_days=7 if day == dt.date(2026, 3, 18) else 2,
        )
        day += dt.timedelta(days=1)
    told = {(due, days) for who, m, due, days in _overdue_items(session, contact.id) if m == duty.id}
    assert told == {("2026-02-25", 21), ("2026-02-25", 28), ("2026-03-25", 1)}


def test_ticking_daily_each_rung_is_told_on_its_own_day_to_a_newcomer_and_after_a_pause_too(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    """Day one, then every seventh day: someone who joins between rungs first hears at the next rung, and a rung
    that fell in a pause is not made up the day the pause ends, it waits for the next."""
    contact = join("区教体局", 1001)
    coordinator = join("区教体局", 2002, ContactRole.coordinator)
    milestone = _zichuan_task_two(seeded)  # due 2025-12-31
    day, newcomer = dt.date(2025, 12, 31), None
    while day <= dt.date(2026, 1, 22):
        if day == dt.date(2026, 1, 10):  # day 10
            newcomer = join("区教体局", 1003)
        if day == dt.date(2026, 1, 12):  # paused to 01-15: over day 14, its rung not told on 01-16
            pause_escalation(
                session=seeded,
                coordinator=coordinator,
                milestone_id=milestone.id,
                days=3,
                reason="等待审批",
                now=local(day.isoformat()),
                today=day,
            )
        plan_escalations(
            session=seeded,
            now=local(day.isoformat(), 10),
            tz=SHANGHAI,
            policy=POLICY,
            lookback_days=7 if day == dt.date(2025, 12, 31) else 2,  # as a running process ticks
        )
        day += dt.timedelta(days=1)
    seeded.expire_all()
    told_on = {
        (row.contact_id, item["m"], dt.date.fromisoformat(row.idempotency_key.split(":")[1]), item["days"])
        for row in _kinds(seeded, "overdue")
        for item in row.payload["items"]
    }
    # the first run, as a start, tells every milestone overdue that day: each reached a rung in the week before
    overdue = overdue_views(
        session=seeded, today=dt.date(2025, 12, 31), plan_ids=[milestone_plan(seeded, milestone)]
    )
    first = {m for who, m, on, _days in told_on if who == coordinator.id and on == dt.date(2025, 12, 31)}
    assert first == {view.milestone_id for view in overdue} != set()
    # after it, only rung days
    later = [(who, m, on, days) for who, m, on, days in told_on if on > dt.date(2025, 12, 31)]
    assert later and [told for told in later if not (told[3] == 1 or told[3] % 7 == 0)] == []
    of_task_two = sorted((who, on.isoformat(), days) for who, m, on, days in told_on if m == milestone.id)
    assert of_task_two == [
        (contact.id, "2026-01-01", 1),
        (contact.id, "2026-01-07", 7),
        (contact.id, "2026-01-21", 21),
        (coordinator.id, "2026-01-01", 1),
        (coordinator.id, "2026-01-07", 7),
        (coordinator.id, "2026-01-21", 21),
        (newcomer.id, "2026-01-21", 21),  # type: ignore[union-attr]
    ]
    others = {(who, days) for who, m, _on, days in told_on if m != milestone.id and who == newcomer.id}  # type: ignore[union-attr]
    assert {days for _who, days in others} >= {14, 21}


@pytest.mark.parametrize("sent_at", [9, 2], ids=["in-the-morning", "at-night-after-a-restart"])
def test_a_reminder_sent_on_friday_is_chased_on_tuesday_two_working_days_later(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
    sent_at: int,
) -> None:
    """Working days in the county's calendar and time: a message a restarted dispatcher sent at 02:00 on Friday
    (18:00 UTC on Thursday) was still sent on Friday."""
    join("区教体局", 1001)
    sent = _sent_reminders(seeded, local("2025-12-26", sent_at))
    assert sent
    for day in ("2025-12-27", "2025-12-28", "2025-12-29"):  # the weekend, then the first working day
        assert plan_rechases(session=seeded, now=local(day, 10), tz=SHANGHAI, policy=POLICY) == 0, day
    assert plan_rechases(session=seeded, now=local("2025-12-30", 10), tz=SHANGHAI, policy=POLICY) == len(sent)


def test_a_duties_first_period_runs_from_the_plans_issue(session: Session) -> None:
    """丁县's plan was issued 2025-01-01; three yearly duties first due 2025-06-30: one reported on the issue day,
    one never, and one that ran only that year (until 2025-06-30), reported done on the issue day."""
    answered, silent, single = own_county(
        session, "丁县", [(dt.date(2025, 6, 30), "教体局", None, "yearly")] * 3
    )
    single.until = dt.date(2025, 6, 30)
    session.add(single)
    session.commit()
    contact = joined_in(session, "丁县", "教体局", ContactRole.contact, 1001)
    for milestone, status in ((answered, ReportStatus.on_track), (single, ReportStatus.done)):
        record_report(
            session=session,
            contact=contact,
            milestone_id=milestone.id or 0,
            status=status,
            percent=100 if status == ReportStatus.done else 30,
            note="",
            now=local("2025-01-01"),
            tz=DEFAULT_TZ,
        )
    plan_escalations(session=session, now=local("2025-07-01", 10), tz=SHANGHAI, policy=POLICY)
    assert {(m, due, days) for _who, m, due, days in _overdue_items(session, contact.id)} == {
        (silent.id, "2025-06-30", 1)
    }


def test_a_duty_that_has_ended_is_escalated_by_its_last_instance_and_no_later_one(
    seeded: Session,
    join,  # type: ignore[no-untyped-def]
) -> None:
    contact = join("区教体局", 1001)
    ended, going_on = (
        _zichuan_yearly(seeded, "附件-28"),
        _zichuan_yearly(seeded, "附件-33"),
    )  # until 2025-12-31, none
    plan_escalations(session=seeded, now=local("2027-01-01", 10), tz=SHANGHAI, policy=POLICY)
    told = {
        (m, due) for _who, m, due, _days in _overdue_items(seeded, contact.id) if m in (ended.id, going_on.id)
    }
    assert told == {(ended.id, "2025-12-31"), (going_on.id, "2026-12-31")}
