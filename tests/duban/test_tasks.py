"""A contact's task numbers: a number once shown keeps meaning that milestone to that person."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from duban.services.errors import NumberNoLongerOpen, NumberNotListed
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.tasks import line_by_number, open_task_lines
from models import Contact, ContactRole, DepartmentRole, Milestone, MilestoneStatus, Task, TaskDepartment

NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2025, 6, 2)


def _join(session: Session, department: str, user_id: int) -> Contact:
    dept = resolve_department(session=session, name=department, region="淄博市淄川区")
    issued = create_invite(
        session=session, department=dept, role=ContactRole.contact, now=NOW, ttl=dt.timedelta(days=7)
    )
    return redeem_invite(
        session=session, token=issued.token, telegram_user_id=user_id, language="zh_CN", now=NOW
    )


def _numbers(session: Session, contact: Contact) -> dict[int, int]:
    """milestone id -> number, as the contact's list shows it now."""
    return {
        line.milestone_id: line.number
        for line in open_task_lines(session=session, contact=contact, today=TODAY)
    }


def test_a_first_list_is_numbered_from_one_in_the_order_it_is_shown(seeded: Session) -> None:
    contact = _join(seeded, "区教体局", 1)
    lines = open_task_lines(session=seeded, contact=contact, today=TODAY)
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert lines[0].role == DepartmentRole.lead


def test_closed_milestones_leave_gaps_and_the_rest_keep_their_numbers(seeded: Session) -> None:
    contact = _join(seeded, "区教体局", 1)
    before = _numbers(seeded, contact)
    closed = [m for m, n in before.items() if n in (1, 3)]
    for milestone in seeded.exec(select(Milestone).where(Milestone.id.in_(closed))).all():  # type: ignore[union-attr]
        milestone.status = MilestoneStatus.done
        seeded.add(milestone)
    seeded.commit()

    after = _numbers(seeded, contact)

    assert after == {m: n for m, n in before.items() if m not in closed}
    assert line_by_number(session=seeded, contact=contact, number=2, today=TODAY).milestone_id == next(
        m for m, n in before.items() if n == 2
    )
    with pytest.raises(NumberNoLongerOpen) as refused:
        line_by_number(session=seeded, contact=contact, number=3, today=TODAY)
    task = seeded.get(Task, seeded.get(Milestone, closed[1]).task_id)  # type: ignore[union-attr]
    assert task is not None
    assert (refused.value.reason, refused.value.task_ref, refused.value.task_title) == (
        "done",
        task.ref,
        task.title,
    )


def test_a_milestone_new_to_the_list_takes_a_number_never_used_for_this_person(seeded: Session) -> None:
    contact = _join(seeded, "区科技局", 1)
    before = _numbers(seeded, contact)
    dropped = max(before, key=lambda m: before[m])  # the highest number, closed out: it must not come back
    seeded.get(Milestone, dropped).status = MilestoneStatus.done  # type: ignore[union-attr]
    # the department is made co of a task it had no part in: its milestones join the list
    other = seeded.exec(
        select(Task).where(
            Task.id.not_in(
                select(TaskDepartment.task_id).where(TaskDepartment.department_id == contact.department_id)
            )
        )  # type: ignore[union-attr]
    ).first()
    assert other is not None and other.milestones
    seeded.add(
        TaskDepartment(
            task_id=other.id, department_id=contact.department_id, role="co", printed_as="区科技局"
        )
    )
    seeded.commit()

    after = _numbers(seeded, contact)

    new = {m: n for m, n in after.items() if m not in before}
    assert set(new) == {m.id for m in other.milestones if m.status == MilestoneStatus.open}
    assert sorted(new.values()) == list(range(max(before.values()) + 1, max(before.values()) + 1 + len(new)))


def test_numbers_are_each_persons_own_and_a_number_never_shown_is_refused(seeded: Session) -> None:
    wang = _join(seeded, "区教体局", 1)
    li = _join(seeded, "区科技局", 2)
    with pytest.raises(NumberNotListed):
        line_by_number(session=seeded, contact=wang, number=1, today=TODAY)
    wangs = _numbers(seeded, wang)
    lis = _numbers(seeded, li)
    assert min(wangs.values()) == min(lis.values()) == 1
    assert line_by_number(session=seeded, contact=li, number=1, today=TODAY).milestone_id == next(
        m for m, n in lis.items() if n == 1
    )
    with pytest.raises(NumberNotListed):
        line_by_number(session=seeded, contact=li, number=len(lis) + 1, today=TODAY)


def test_a_withdrawn_milestone_is_refused_as_withdrawn(seeded: Session) -> None:
    contact = _join(seeded, "区科技局", 1)
    numbers = _numbers(seeded, contact)
    milestone = seeded.get(Milestone, next(m for m, n in numbers.items() if n == 1))
    assert milestone is not None
    milestone.status = MilestoneStatus.withdrawn
    seeded.add(milestone)
    seeded.commit()
    with pytest.raises(NumberNoLongerOpen) as refused:
        line_by_number(session=seeded, contact=contact, number=1, today=TODAY)
    assert refused.value.reason == "withdrawn"
    assert 1 not in _numbers(seeded, contact).values()


def test_a_task_taken_from_the_department_is_refused_by_name(seeded: Session) -> None:
    contact = _join(seeded, "区科技局", 1)
    numbers = _numbers(seeded, contact)
    milestone = seeded.get(Milestone, next(m for m, n in numbers.items() if n == 1))
    assert milestone is not None
    link = seeded.get(TaskDepartment, (milestone.task_id, contact.department_id))
    seeded.delete(link)
    seeded.commit()
    with pytest.raises(NumberNoLongerOpen) as refused:
        line_by_number(session=seeded, contact=contact, number=1, today=TODAY)
    assert refused.value.reason == "not_yours"
