"""`duban status`: milestones by plan and by year, as of the day it runs."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
from freezegun import freeze_time
from sqlmodel import Session, col, select

from duban.cli import main
from duban.recurrence import current_instance
from duban.seeding import read_seed_files
from duban.services.oversight import silent_departments
from duban.status import (
    MilestoneState,
    MilestoneView,
    Pace,
    milestone_views,
    overdue_views,
    pace_of,
    status_report,
    tally_milestones,
)
from models import (
    Contact,
    ContactRole,
    Department,
    Milestone,
    MilestoneStatus,
    Notification,
    Plan,
    ProgressReport,
    ReportStatus,
    Task,
    TaskDepartment,
)


def test_on_new_year_2026_every_open_2025_milestone_is_overdue(seeded: Session) -> None:
    done = seeded.exec(select(Milestone).where(Milestone.due_on == dt.date(2025, 12, 31))).first()
    assert done is not None
    done.status = MilestoneStatus.done
    seeded.add(done)
    seeded.commit()

    report = status_report(session=seeded, today=dt.date(2026, 1, 1))

    dated_2025 = [v for v in report.milestones if v.recurrence == "none" and v.due_on.year == 2025]
    in_seed_files = [
        m
        for plan in read_seed_files()
        for t in plan.tasks
        for m in t.milestones
        if m.recurrence == "none" and m.due_on.year == 2025
    ]
    assert len(dated_2025) == len(in_seed_files) == 37
    assert [v.state for v in dated_2025].count(MilestoneState.done) == 1
    assert all(v.state == MilestoneState.overdue for v in dated_2025 if v.milestone_id != done.id)


def test_before_the_due_date_a_report_counts_as_reported(seeded: Session) -> None:
    milestone = seeded.exec(select(Milestone).where(Milestone.due_on == dt.date(2027, 12, 31))).first()
    assert milestone is not None
    department = seeded.exec(select(Department)).first()
    assert department is not None
    contact = Contact(department_id=department.id, name="王老师")
    seeded.add(contact)
    seeded.flush()
    seeded.add(
        ProgressReport(
            milestone_id=milestone.id,
            contact_id=contact.id,
            status=ReportStatus.on_track,
            percent=40,
            reported_at=dt.datetime(2026, 5, 20, 3, 0, tzinfo=dt.UTC),
        )
    )
    seeded.commit()

    report = status_report(session=seeded, today=dt.date(2026, 6, 1))

    view = next(v for v in report.milestones if v.milestone_id == milestone.id)
    assert (view.state, view.latest_percent) == (MilestoneState.reported, 40)
    assert report.by_year["2027"][MilestoneState.reported] == 1


def test_a_yearly_duty_missed_last_year_is_overdue(seeded: Session) -> None:
    report = status_report(session=seeded, today=dt.date(2026, 3, 1))
    yearly = [v for v in report.milestones if v.recurrence == "yearly"]
    assert yearly
    assert {v.state for v in yearly} == {MilestoneState.overdue}
    assert {v.due_on for v in yearly} <= {dt.date(2025, 12, 31)}


def test_a_withdrawn_milestone_is_in_no_state_no_count_and_no_overdue_list(seeded: Session) -> None:
    today = dt.date(2026, 1, 5)
    before = status_report(session=seeded, today=today)
    milestone = seeded.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
    ).one()
    assert milestone.id in {v.milestone_id for v in overdue_views(session=seeded, today=today)}
    monthly = seeded.exec(select(Milestone).where(Milestone.recurrence == "monthly")).first()
    assert monthly is not None
    for withdrawn in (milestone, monthly):
        withdrawn.status = MilestoneStatus.withdrawn
        seeded.add(withdrawn)
    seeded.commit()

    after = status_report(session=seeded, today=today)
    assert after.overall.total == before.overall.total - 2
    assert after.overall[MilestoneState.overdue] == before.overall[MilestoneState.overdue] - 2
    gone = {milestone.id, monthly.id}
    assert not gone & {v.milestone_id for v in after.milestones}
    assert not gone & {v.milestone_id for v in overdue_views(session=seeded, today=today)}
    counted = sum(t.count for t in tally_milestones(session=seeded, today=today))
    assert counted == after.overall.total


def test_department_filter_counts_only_that_departments_tasks(seeded: Session) -> None:
    report = status_report(session=seeded, today=dt.date(2026, 1, 1), department="区科技局")
    assert sorted({v.task_ref for v in report.milestones}) == ["附件-34", "（七）"]


@freeze_time("2026-01-01 10:00:00", tz_offset=0)
def test_cli_status_prints_counts_in_chinese(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "督办进度（截至 2026-01-01，全部部门）" in out
    assert "按方案" in out and "按年份" in out
    row_2025 = next(line for line in out.splitlines() if line.startswith("2025 "))
    total, done, reported, silent, overdue = (int(x) for x in row_2025.split()[1:])
    assert total == overdue and done == reported == silent == 0


@freeze_time("2026-01-01 10:00:00", tz_offset=0)
def test_cli_status_as_of_another_day_counts_that_day(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """--as-of as `duban export` takes it: the states of that day (nothing of 2025 overdue in mid-2024)."""
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status", "--as-of", "2024-06-30"]) == 0
    out = capsys.readouterr().out
    assert "督办进度（截至 2024-06-30，全部部门）" in out
    row_2025 = next(line for line in out.splitlines() if line.startswith("2025 "))
    total, done, reported, silent, overdue = (int(x) for x in row_2025.split()[1:])
    assert total == silent and overdue == 0


def test_cli_status_for_an_unknown_department_says_so_politely(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["seed"]) == 0
    capsys.readouterr()
    assert main(["status", "--department", "不存在的局"]) == 1
    assert "没有找到部门“不存在的局”" in capsys.readouterr().err


def test_cli_status_on_an_empty_database_says_to_seed_first(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["status"]) == 1
    assert "请先运行 duban seed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("state", "status", "percent", "today", "expected"),
    [
        (MilestoneState.done, ReportStatus.done, 100, "2024-01-01", Pace.done),
        (MilestoneState.overdue, ReportStatus.on_track, 90, "2026-01-02", Pace.red),
        (MilestoneState.reported, ReportStatus.blocked, 50, "2024-01-01", Pace.red),
        (MilestoneState.silent, None, None, "2024-01-01", Pace.grey),
        # half the time has passed (2023-01-01 .. 2025-01-01): 50% expected, 25 points of tolerance
        (MilestoneState.reported, ReportStatus.on_track, 26, "2024-01-01", Pace.green),
        (MilestoneState.reported, ReportStatus.on_track, 24, "2024-01-01", Pace.amber),
        (MilestoneState.reported, ReportStatus.at_risk, 80, "2024-01-01", Pace.amber),
    ],
)
def test_pace_colour_against_the_time_elapsed(state, status, percent, today, expected) -> None:  # type: ignore[no-untyped-def]
    latest = (
        None
        if status is None
        else ProgressReport(milestone_id=1, contact_id=1, status=status, percent=percent)
    )
    assert (
        pace_of(
            state,
            latest,
            start=dt.date(2023, 1, 1),
            due=dt.date(2025, 1, 1),
            today=dt.date.fromisoformat(today),
        )
        == expected
    )


# --- The SQL judgement against a straightforward Python one, on randomised data ---------------------------------
#
# The reference below is the rule as README "Status" and "Pace" state it, computed from whole ORM rows the plain
# way (it is the implementation status.py had before the work moved into SQL). Random plans, milestones and reports,
# with a fixed seed, stress the edges: reports at the last second of a day, a report and a close-out after the day
# asked about, ties in report time, plans issued after a milestone's due date, every recurring kind, bounded or not.


def _reference_state(
    milestone: Milestone, issued_on: dt.date, reports: list[ProgressReport], today: dt.date
) -> tuple[MilestoneState, dt.date]:
    if milestone.recurrence == "none":
        if milestone.status == MilestoneStatus.done and (
            milestone.done_at is None or milestone.done_at.date() <= today
        ):
            return MilestoneState.done, milestone.due_on
        if milestone.due_on < today:
            return MilestoneState.overdue, milestone.due_on
        return (MilestoneState.reported if reports else MilestoneState.silent), milestone.due_on

    def reported_between(start: dt.date | None, end: dt.date, done_only: bool = False) -> bool:
        return any(
            (start is None or r.reported_at.date() > start)
            and r.reported_at.date() <= end
            and (not done_only or r.status == ReportStatus.done)
            for r in reports
        )

    previous, due = current_instance(milestone, today=today)
    period_start = previous if previous is not None else issued_on - dt.timedelta(days=1)
    if reported_between(period_start, due, done_only=True):
        return MilestoneState.done, due
    if due < today:
        return MilestoneState.overdue, due
    if previous is not None:
        before, _ = current_instance(milestone, today=previous)
        if not reported_between(before if before is not None else issued_on - dt.timedelta(days=1), previous):
            return MilestoneState.overdue, previous
    return (MilestoneState.reported if reported_between(period_start, due) else MilestoneState.silent), due


def _reference_views(
    session: Session, today: dt.date, department_ids: list[int] | None = None
) -> list[MilestoneView]:
    cutoff = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    reports: dict[int, list[ProgressReport]] = {}
    for report in sorted(session.exec(select(ProgressReport)).all(), key=lambda r: (r.reported_at, r.id)):
        if report.reported_at < cutoff:
            reports.setdefault(report.milestone_id, []).append(report)
    linked = {(link.task_id, link.department_id) for link in session.exec(select(TaskDepartment)).all()}
    views = []
    for milestone in session.exec(select(Milestone)).all():
        if milestone.status == MilestoneStatus.withdrawn:  # no longer the plan's: in no view
            continue
        task = session.get(Task, milestone.task_id)
        assert task is not None
        if department_ids is not None and not any((task.id, d) in linked for d in department_ids):
            continue
        plan = session.get(Plan, task.plan_id)
        assert plan is not None
        own = reports.get(milestone.id or 0, [])
        state, due = _reference_state(milestone, plan.issued_on, own, today)
        previous, _ = current_instance(milestone, today=today)
        views.append(
            MilestoneView(
                milestone_id=milestone.id or 0,
                plan_key=plan.key,
                plan_title=plan.title,
                task_ref=task.ref,
                task_title=task.title,
                due_on=due,
                recurrence=milestone.recurrence,
                state=state,
                latest_percent=own[-1].percent if own else None,
                pace=pace_of(
                    state, own[-1] if own else None, start=previous or plan.issued_on, due=due, today=today
                ),
                latest_report_id=own[-1].id if own else None,
            )
        )
    positions = {t.id: t.position for t in session.exec(select(Task)).all()}
    first_due = {m.id: m.due_on for m in session.exec(select(Milestone)).all()}
    task_of = {m.id: m.task_id for m in session.exec(select(Milestone)).all()}
    return sorted(
        views,
        key=lambda v: (
            v.plan_key,
            positions[task_of[v.milestone_id]],
            first_due[v.milestone_id],
            v.milestone_id,
        ),
    )


TODAYS = [dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2026, 3, 16), dt.date(2026, 7, 11)]


def _random_plans(session: Session, seed: int) -> None:
    rng = random.Random(seed)
    moments = [dt.time(0, 0), dt.time(12, 0), dt.time(23, 59, 59), dt.time(15, 59, 59), dt.time(16, 0)]
    near = [d - dt.timedelta(days=k) for d in TODAYS for k in (-1, 0, 1)]
    departments = [Department(name=f"随机局{n}", region="随机县") for n in range(4)]
    session.add_all(departments)
    session.flush()
    contact = Contact(department_id=departments[0].id or 0, name="联络员")
    session.add(contact)
    session.flush()
    for p in range(5):
        # some plans issued after their earliest milestones fall due: a zero or negative span
        plan = Plan(
            key=f"rand-{p}",
            title=f"随机方案{p % 4}",  # two plans share a title, as by_plan keys on titles
            issuer="县政府",
            issued_on=dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(0, 1400)),
            region="随机县",
        )
        session.add(plan)
        session.flush()
        for position in range(1, 31):
            task = Task(
                plan_id=plan.id or 0, ref=f"（{position}）", section="body", title=f"任务{position}", text="…"
            )
            task.position = rng.choice((position, 1))  # ties in position too
            session.add(task)
            session.flush()
            for n, department in enumerate(rng.sample(departments, rng.randrange(0, 3))):
                session.add(
                    TaskDepartment(
                        task_id=task.id or 0,
                        department_id=department.id or 0,
                        role="lead" if n == 0 else "co",
                        printed_as=department.name,
                    )
                )
            used: set[tuple[dt.date, str]] = set()
            for _ in range(rng.randrange(1, 5)):
                recurrence = rng.choice(("none",) * 6 + ("yearly", "semester", "monthly"))
                if recurrence == "yearly":
                    due = dt.date(rng.randrange(2023, 2027), 12, 31)
                elif recurrence == "semester":
                    due = dt.date(rng.randrange(2023, 2027), *rng.choice(((1, 20), (7, 10))))
                elif recurrence == "monthly":
                    due = dt.date(rng.randrange(2023, 2027), rng.randrange(1, 13), 25)
                else:
                    due = (
                        rng.choice(near)
                        if rng.random() < 0.3
                        else dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(0, 1800))
                    )
                if (due, recurrence) in used:
                    continue
                used.add((due, recurrence))
                done = recurrence == "none" and rng.random() < 0.35
                milestone = Milestone(
                    task_id=task.id or 0,
                    due_on=due,
                    target="目标",
                    recurrence=recurrence,
                    until=rng.choice((None, dt.date(2025, 12, 31), dt.date(2026, 7, 10)))
                    if recurrence != "none"
                    else None,
                    status=MilestoneStatus.done if done else MilestoneStatus.open,
                    done_at=rng.choice(
                        (None, dt.datetime.combine(rng.choice(near), rng.choice(moments), tzinfo=dt.UTC))
                    )
                    if done
                    else None,
                )
                session.add(milestone)
                session.flush()
                tie = dt.datetime.combine(rng.choice(near), rng.choice(moments), tzinfo=dt.UTC)
                for _ in range(rng.choice((0, 0, 1, 1, 2, 4))):
                    day = (
                        rng.choice(near)
                        if rng.random() < 0.6
                        else due - dt.timedelta(days=rng.randrange(-60, 400))
                    )
                    at = (
                        tie
                        if rng.random() < 0.2
                        else dt.datetime.combine(day, rng.choice(moments), tzinfo=dt.UTC)
                    )
                    session.add(
                        ProgressReport(
                            milestone_id=milestone.id or 0,
                            contact_id=contact.id or 0,
                            status=rng.choice(list(ReportStatus)),
                            percent=rng.choice((None, 0, 10, 24, 25, 26, 49, 50, 51, 75, 99, 100)),
                            reported_at=at,
                        )
                    )
    # some of every kind withdrawn (已撤销), reports and all, from a stream of their own so the rest stay as drawn
    withdrawing = random.Random(seed + 1)
    for milestone in session.exec(select(Milestone).join(Task).where(Task.section == "body")).all():
        if withdrawing.random() < 0.1:
            milestone.status = MilestoneStatus.withdrawn
            session.add(milestone)
    session.commit()


@pytest.fixture
def random_plans(session: Session) -> Session:
    _random_plans(session, seed=20261130)
    return session


@pytest.mark.parametrize("today", TODAYS)
def test_views_judged_in_sql_equal_the_plain_python_rule(random_plans: Session, today: dt.date) -> None:
    expected = _reference_views(random_plans, today)
    assert (
        len({v.state for v in expected}) == 4 and len({v.pace for v in expected}) == 5
    )  # every branch is hit
    assert milestone_views(session=random_plans, today=today) == expected


@pytest.mark.parametrize("today", TODAYS)
def test_tallies_grouped_in_sql_equal_counting_the_plain_views(random_plans: Session, today: dt.date) -> None:
    expected = Counter(
        (v.plan_key, v.plan_title, str(v.due_on.year), v.state, v.pace)
        for v in _reference_views(random_plans, today)
    )
    tallies = tally_milestones(session=random_plans, today=today)
    assert {(t.plan_key, t.plan_title, t.year, t.state, t.pace): t.count for t in tallies} == expected
    assert [t.plan_key for t in tallies] == sorted(t.plan_key for t in tallies)


@pytest.mark.parametrize("today", TODAYS[1:3])
def test_filtered_views_are_the_plain_views_filtered(random_plans: Session, today: dt.date) -> None:
    everything = _reference_views(random_plans, today)
    plan_ids = [
        p.id or 0 for p in random_plans.exec(select(Plan).where(col(Plan.key).in_(["rand-1", "rand-3"])))
    ]
    keys = {"rand-1", "rand-3"}
    assert overdue_views(session=random_plans, today=today, plan_ids=plan_ids) == [
        v for v in everything if v.state == MilestoneState.overdue and v.plan_key in keys
    ]
    assert milestone_views(session=random_plans, today=today, plan_ids=plan_ids) == [
        v for v in everything if v.plan_key in keys
    ]
    window = (today, today + dt.timedelta(days=90))
    assert milestone_views(session=random_plans, today=today, due_from=window[0], due_through=window[1]) == [
        v for v in everything if window[0] <= v.due_on <= window[1]
    ]
    silent_or_reported = {MilestoneState.silent, MilestoneState.reported}
    assert milestone_views(session=random_plans, today=today, states=silent_or_reported) == [
        v for v in everything if v.state in silent_or_reported
    ]
    department = random_plans.exec(select(Department).where(Department.name == "随机局2")).one()
    assert milestone_views(session=random_plans, today=today, department_ids=[department.id or 0]) == (
        _reference_views(random_plans, today, department_ids=[department.id or 0])
    )


def test_status_report_counts_what_its_views_say(random_plans: Session) -> None:
    today = TODAYS[2]
    report = status_report(session=random_plans, today=today)
    views = _reference_views(random_plans, today)
    assert report.milestones == views
    assert report.overall.total == len(views)
    assert {s: report.overall[s] for s in MilestoneState} == {
        s: sum(v.state == s for v in views) for s in MilestoneState
    }
    assert report.paces == dict(Counter(v.pace for v in views))
    assert list(report.by_plan) == ["随机方案0", "随机方案1", "随机方案2", "随机方案3"]
    assert report.by_plan["随机方案0"].total == sum(v.plan_title == "随机方案0" for v in views)


@pytest.mark.parametrize("today", TODAYS)
def test_counts_only_status_says_what_the_full_report_says(random_plans: Session, today: dt.date) -> None:
    """/status asks for counts only (a GROUP BY); they must be the counts of the milestones the full report lists."""
    two_plans = [
        p.id or 0 for p in random_plans.exec(select(Plan).where(col(Plan.key).in_(["rand-0", "rand-2"])))
    ]
    for department, plan_ids in ((None, None), ("随机局2", None), (None, two_plans), ("随机局2", two_plans)):
        full = status_report(session=random_plans, today=today, department=department, plan_ids=plan_ids)
        counts = status_report(
            session=random_plans, today=today, department=department, plan_ids=plan_ids, with_milestones=False
        )
        assert counts.milestones == []
        assert full.overall.total > 0
        assert counts.paces == full.paces
        for made, wanted in (
            (counts.by_plan, full.by_plan),
            (counts.by_year, full.by_year),
            ({"": counts.overall}, {"": full.overall}),
        ):
            assert list(made) == list(wanted)
            assert {k: (c.total, dict(c.by_state)) for k, c in made.items()} == {
                k: (c.total, dict(c.by_state)) for k, c in wanted.items()
            }


def test_silent_departments_are_those_with_no_report_since_their_last_reminder(seeded: Session) -> None:
    plan = seeded.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
    milestone = seeded.exec(select(Milestone).join(Task).where(Task.plan_id == plan.id)).first()
    assert milestone is not None and milestone.id is not None
    answered, late_answer, never, _ = seeded.exec(
        select(Department).where(Department.region == plan.region).order_by(col(Department.id))
    ).all()[:4]
    coordinator = Contact(department_id=answered.id or 0, name="督办", role=ContactRole.coordinator)
    seeded.add(coordinator)
    day = dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC)
    for n, (department, sent_days) in enumerate([(answered, (0, 3)), (late_answer, (1, 4)), (never, (2,))]):
        contact = Contact(department_id=department.id or 0, name=f"联络员{n}")
        seeded.add(contact)
        seeded.flush()
        for d in sent_days:
            seeded.add(
                Notification(
                    idempotency_key=f"silent-test:{n}:{d}",
                    kind="reminder",
                    milestone_id=milestone.id,
                    contact_id=contact.id,
                    text="提醒",
                    due_at=day + dt.timedelta(days=d),
                    sent_at=day + dt.timedelta(days=d),
                )
            )
        # the first department answers after its last reminder; the second only before its last one
        report_day = {0: 5, 1: 2}.get(n)
        if report_day is not None:
            seeded.add(
                ProgressReport(
                    milestone_id=milestone.id,
                    contact_id=contact.id or 0,
                    status=ReportStatus.on_track,
                    reported_at=day + dt.timedelta(days=report_day),
                )
            )
    seeded.commit()

    silent = silent_departments(session=seeded, reader=coordinator, now=day + dt.timedelta(days=10))

    assert [(s.department, s.last_reminder_at, s.days_silent) for s in silent] == [
        (never.name, day + dt.timedelta(days=2), 8),
        (late_answer.name, day + dt.timedelta(days=4), 6),
    ]
