"""Each page's data, and who may see and do what: one's own county only, as one's role allows in chat."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from duban.services.errors import InvalidInput, NotAllowed, NotFound
from duban.services.oversight import pause_escalation, status_for
from duban.services.progress import attach_evidence, decide_closeout, record_report
from duban.status import MilestoneState
from models import (
    Department,
    DepartmentRole,
    MilestoneStatus,
    Notification,
    ReportStatus,
)
from scheduler.escalation import EscalationPolicy, plan_escalations
from tests.web.conftest import (
    FOREIGN_PLAN,
    HOME_PLAN,
    NOW,
    County,
    milestone_of,
    plan_id,
    request_closeout,
    said,
)
from tests.zones import DEFAULT_TZ
from web import data

TODAY = NOW.date()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_overview_shows_only_the_readers_county_and_agrees_with_status(
    seeded: Session, county: County
) -> None:
    for reader in (county.coordinator, county.lead):
        [plan] = data.overview(session=seeded, reader=reader, today=TODAY)
        assert plan.plan.key == HOME_PLAN
        status = status_for(session=seeded, reader=reader, today=TODAY)
        assert sum(plan.total.now.pace.values()) == status.overall.total
        assert plan.total.now.overdue == status.overall[MilestoneState.overdue] > 0
        lead_names = {row.department.name for row in plan.departments if row.department}
        assert "区教体局" in lead_names
        assert all(row.department and row.department.id for row in plan.departments)


def test_the_overview_shows_the_change_since_last_week(seeded: Session, county: County) -> None:
    [before] = data.overview(session=seeded, reader=county.lead, today=TODAY)
    milestone = milestone_of(seeded, HOME_PLAN, "（二）")
    record_report(
        session=seeded,
        contact=county.contact,
        milestone_id=milestone.id or 0,
        status=ReportStatus.on_track,
        percent=90,
        note="进展顺利",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    [after] = data.overview(session=seeded, reader=county.lead, today=TODAY)
    assert after.total.now["grey"] == before.total.now["grey"] - 1
    assert after.total.now["green"] == before.total.now["green"] + 1
    assert after.total.change("green") == before.total.change("green") + 1


def test_a_department_contact_sees_no_page(seeded: Session, county: County) -> None:
    with pytest.raises(NotAllowed):
        data.overview(session=seeded, reader=county.contact, today=TODAY)
    with pytest.raises(NotAllowed):
        data.plan_ledger(
            session=seeded,
            reader=county.contact,
            plan_id=plan_id(seeded, HOME_PLAN),
            today=TODAY,
            chosen=data.LedgerFilter(),
        )


def test_another_countys_plan_department_or_milestone_does_not_exist_for_the_reader(
    seeded: Session, county: County
) -> None:
    reader = county.coordinator
    foreign_department = seeded.exec(select(Department).where(Department.region == "安丘市")).first()
    assert foreign_department is not None and foreign_department.id is not None
    foreign_milestone = milestone_of(seeded, FOREIGN_PLAN, "（一）1")
    home = plan_id(seeded, HOME_PLAN)
    with pytest.raises(NotFound):
        data.plan_ledger(
            session=seeded,
            reader=reader,
            plan_id=plan_id(seeded, FOREIGN_PLAN),
            today=TODAY,
            chosen=data.LedgerFilter(),
        )
    with pytest.raises(NotFound):
        data.plan_ledger(
            session=seeded, reader=reader, plan_id=987654, today=TODAY, chosen=data.LedgerFilter()
        )
    with pytest.raises(NotFound):
        data.plan_ledger(
            session=seeded,
            reader=reader,
            plan_id=home,
            today=TODAY,
            chosen=data.LedgerFilter(department_id=foreign_department.id),
        )
    with pytest.raises(NotFound):
        data.department_page(session=seeded, reader=reader, department_id=foreign_department.id, today=TODAY)
    with pytest.raises(NotFound):
        data.milestone_detail(
            session=seeded, reader=reader, milestone_id=foreign_milestone.id or 0, today=TODAY
        )
    with pytest.raises(NotFound):
        data.milestone_detail(session=seeded, reader=reader, milestone_id=987654, today=TODAY)


def test_the_ledger_filters_by_department_year_and_state(seeded: Session, county: County) -> None:
    home = plan_id(seeded, HOME_PLAN)
    everything = data.plan_ledger(
        session=seeded, reader=county.lead, plan_id=home, today=TODAY, chosen=data.LedgerFilter()
    )
    assert len(everything.rows) == sum(
        data.overview(session=seeded, reader=county.lead, today=TODAY)[0].total.now.pace.values()
    )
    department = next(d for d in everything.departments if d.name == "区科技局")
    by_department = data.plan_ledger(
        session=seeded,
        reader=county.lead,
        plan_id=home,
        today=TODAY,
        chosen=data.LedgerFilter(department_id=department.id),
    )
    assert 0 < len(by_department.rows) < len(everything.rows)
    assert all(department in (*row.departments.lead, *row.departments.co) for row in by_department.rows)
    year = everything.years[0]
    by_year = data.plan_ledger(
        session=seeded, reader=county.lead, plan_id=home, today=TODAY, chosen=data.LedgerFilter(year=year)
    )
    assert by_year.rows and all(row.view.due_on.year == year for row in by_year.rows)
    overdue = data.plan_ledger(
        session=seeded,
        reader=county.lead,
        plan_id=home,
        today=TODAY,
        chosen=data.LedgerFilter(state=MilestoneState.overdue),
    )
    assert overdue.rows and all(row.view.state == MilestoneState.overdue for row in overdue.rows)
    assert len(overdue.rows) == len([r for r in everything.rows if r.view.state == MilestoneState.overdue])


def test_the_ledger_keeps_the_tasks_the_plan_gives_no_date(seeded: Session, county: County) -> None:
    home = plan_id(seeded, HOME_PLAN)

    def ledger(**chosen: object) -> data.Ledger:
        return data.plan_ledger(
            session=seeded, reader=county.lead, plan_id=home, today=TODAY, chosen=data.LedgerFilter(**chosen)
        )

    undated = ledger().undated
    assert len(undated) == 6 and all(task.departments.lead for task in undated)
    # a department's: those naming it, lead or co; a year or a state: none, an undated task has neither
    lead = undated[0].departments.lead[0]
    assert ledger(department_id=lead.id).undated == [
        t for t in undated if lead in (*t.departments.lead, *t.departments.co)
    ]
    assert lead in ledger().departments  # a department named only by undated tasks can be chosen too
    assert ledger(year=ledger().years[0]).undated == [] and ledger(state=MilestoneState.overdue).undated == []


def test_the_ledger_shows_the_latest_report_and_whether_there_is_evidence(
    seeded: Session, county: County
) -> None:
    milestone = milestone_of(seeded, HOME_PLAN, "（二）")
    for note, percent in (("开工", 30), ("过半", 60)):
        record_report(
            session=seeded,
            contact=county.contact,
            milestone_id=milestone.id or 0,
            status=ReportStatus.on_track,
            percent=percent,
            note=note,
            now=NOW,
            tz=DEFAULT_TZ,
        )
    attach_evidence(
        session=seeded, contact=county.contact, milestone_id=milestone.id or 0, file_id="photo-1", now=NOW
    )
    ledger = data.plan_ledger(
        session=seeded,
        reader=county.lead,
        plan_id=plan_id(seeded, HOME_PLAN),
        today=TODAY,
        chosen=data.LedgerFilter(),
    )
    [row] = [r for r in ledger.rows if r.view.milestone_id == milestone.id]
    assert row.latest is not None and (row.latest.note, row.latest.percent) == ("过半", 60)
    assert row.evidence and row.departments.names(DepartmentRole.lead).startswith("区教体局")

    detail = data.milestone_detail(
        session=seeded, reader=county.lead, milestone_id=milestone.id or 0, today=TODAY
    )
    assert [e.report.note for e in detail.reports] == ["过半", "开工"]
    assert detail.reports[0].report.evidence_file_id == "photo-1"
    assert all(e.department == "区教体局" for e in detail.reports)


def test_the_department_page_lists_that_departments_milestones(seeded: Session, county: County) -> None:
    department = seeded.exec(
        select(Department).where(Department.name == "区科技局", Department.region == "淄博市淄川区")
    ).one()
    page = data.department_page(
        session=seeded, reader=county.lead, department_id=department.id or 0, today=TODAY
    )
    assert page.rows
    assert all(
        any(d.id == department.id for d in (*r.departments.lead, *r.departments.co)) for r in page.rows
    )
    assert page.tally.overdue == len([r for r in page.rows if r.view.state == MilestoneState.overdue])


@pytest.mark.parametrize(
    ("days", "expected"),
    [(1, (1, "notice")), (7, (2, "notice")), (14, (3, "cuiban")), (29, (5, "cuiban")), (30, (5, "tongbao"))],
)
def test_the_ladder_rung_follows_the_escalation_policy(days: int, expected: tuple[int, str]) -> None:
    assert data.ladder_rung(days) == expected


def _dispatched(session: Session) -> None:
    """Every queued message goes out, as the dispatcher records it."""
    for row in session.exec(select(Notification).where(col(Notification.sent_at).is_(None))).all():
        row.sent_at = NOW
        session.add(row)
    session.commit()


def test_the_overdue_list_counts_notices_sent_and_shows_those_waiting_apart(
    seeded: Session, county: County
) -> None:
    """Notices counted from the rungs the scheduler recorded and the outbox sent, not derived from the days; one
    queued and not sent yet is shown apart; the leadership is said to be told only where a message to it was; a
    /snooze shows."""

    def entries(today: dt.date) -> dict[int, data.OverdueEntry]:
        found = data.overdue_entries(session=seeded, reader=county.lead, today=today)
        days = [e.line.days_overdue for e in found]
        assert days == sorted(days, reverse=True)
        return {e.line.view.milestone_id: e for e in found}

    before = entries(TODAY)
    assert len(before) > 2
    for entry in before.values():
        assert entry.line.days_overdue == (TODAY - entry.line.view.due_on).days
        assert (entry.owed, entry.rung) == data.ladder_rung(entry.line.days_overdue)
        assert (entry.sent, entry.waiting) == (0, 0) and entry.behind  # nothing went out yet, and it says so

    # the scheduler's first tick looks back a week: each overdue milestone reached one rung in it. 2025-06-02 is a
    # holiday, so the notices wait for the next working morning: queued, not sent
    plan_escalations(session=seeded, now=NOW, tz=SHANGHAI, policy=EscalationPolicy())
    first = entries(TODAY)
    ours = {m for m, e in first.items() if "区教体局" in e.line.lead_departments}  # the one with a contact
    assert ours == set(first)
    for entry in first.values():
        assert (entry.sent, entry.waiting) == (0, 1)
        assert entry.behind == (entry.owed > 1)
        assert entry.leadership == ("" if entry.rung == "notice" else "waiting")
        assert entry.tongbao == ""  # no 通报 was queued (plan_tongbao did not run)

    _dispatched(seeded)
    for entry in entries(TODAY).values():
        assert (entry.sent, entry.waiting) == (1, 0)
        assert entry.leadership == ("" if entry.rung == "notice" else "told")

    paused_id, still_id = sorted(ours)[:2]
    pause_escalation(
        session=seeded,
        coordinator=county.coordinator,
        milestone_id=paused_id,
        days=7,
        reason="等待<b>资金</b>",
        now=NOW,
        today=TODAY,
    )
    week_later = TODAY + dt.timedelta(days=7)
    plan_escalations(session=seeded, now=NOW + dt.timedelta(days=7), tz=SHANGHAI, policy=EscalationPolicy())
    later = entries(week_later)
    assert (later[paused_id].sent, later[paused_id].paused_until) == (1, week_later)
    assert later[paused_id].pause_reason == "等待<b>资金</b>" and not later[paused_id].behind
    assert (later[still_id].sent, later[still_id].waiting, later[still_id].paused_until) == (1, 1, None)
    assert entries(week_later + dt.timedelta(days=1))[paused_id].paused_until is None  # the pause ran out


def test_pending_requests_are_for_coordinators_of_the_county(seeded: Session, county: County) -> None:
    home = request_closeout(seeded, county.contact, HOME_PLAN, "（二）", note="已完成，<b>见附件</b>")
    request_closeout(seeded, county.foreign_contact, FOREIGN_PLAN, "（一）1")
    [item] = data.pending(session=seeded, coordinator=county.coordinator)
    assert (item.closeout.id, item.department, item.task.ref) == (home, "区教体局", "（二）")
    assert item.report is not None and item.report.note == "已完成，<b>见附件</b>"
    with pytest.raises(NotAllowed):
        data.pending(session=seeded, coordinator=county.lead)


def test_approving_closes_the_milestone_and_queues_the_contacts_notice(
    seeded: Session, county: County
) -> None:
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    decision = decide_closeout(
        session=seeded,
        coordinator=county.coordinator,
        closeout_id=closeout_id,
        approve=True,
        reason="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    assert decision.milestone.status == MilestoneStatus.done
    [notice] = seeded.exec(select(Notification).where(Notification.contact_id == county.contact.id)).all()
    assert [notice.id] == list(decision.notices)  # queued in the decision's own commit
    assert said(seeded, notice) == "您对 （二） 实施教育强镇筑基行动 的销号申请已批准。谢谢！"
    assert notice.idempotency_key == f"closeout:{closeout_id}:approved:c{county.contact.id}"
    assert notice.sent_at is None and notice.kind == "closeout_decided"
    with pytest.raises(InvalidInput):
        decide_closeout(
            session=seeded,
            coordinator=county.coordinator,
            closeout_id=closeout_id,
            approve=True,
            reason="",
            now=NOW,
            tz=DEFAULT_TZ,
        )


def test_a_rejection_needs_a_reason_and_tells_the_contact_why(seeded: Session, county: County) -> None:
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    with pytest.raises(InvalidInput):
        decide_closeout(
            session=seeded,
            coordinator=county.coordinator,
            closeout_id=closeout_id,
            approve=False,
            reason=" ",
            now=NOW,
            tz=DEFAULT_TZ,
        )
    seeded.rollback()
    decide_closeout(
        session=seeded,
        coordinator=county.coordinator,
        closeout_id=closeout_id,
        approve=False,
        reason="缺少<佐证>",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    [notice] = seeded.exec(select(Notification).where(Notification.contact_id == county.contact.id)).all()
    assert said(seeded, notice).endswith(
        "未获批准：缺少<佐证>"
    )  # plain text; each channel escapes its own way
