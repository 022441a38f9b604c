"""Load the reviewed seed files into the database: all-or-nothing, and idempotent."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from duban.errors import Refused
from duban.schema_text import error_message
from duban.services import audit
from models import (
    CloseoutRequest,
    CloseoutStatus,
    Department,
    DepartmentAlias,
    DepartmentRole,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    Recurrence,
    Task,
    TaskDepartment,
    limits,
    utcnow,
)
from seed_data import seed_files
from seed_data.schema import SeedMilestone, SeedPlan, SeedTask

log = logging.getLogger(__name__)


class SeedError(Exception):
    """A seed file is broken; the message names the file, the task and the field."""


@dataclass(frozen=True)
class MilestoneChange:
    """One milestone a load moved, withdrew, restored or kept, for the command to print."""

    task_ref: str
    recurrence: str
    due_on: dt.date  # the date it had
    moved_to: dt.date | None = None
    reports: int = 0  # progress reports attached to it; they stay with it whatever happens


@dataclass
class PlanChanges:
    """What one load changed in one plan beyond its text: the header, tasks in and out, milestones moved and
    withdrawn. A new plan lists nothing but `new`."""

    key: str
    new: bool = False
    header: list[tuple[str, str, str]] = field(default_factory=list)  # (column, before, after)
    tasks_added: list[str] = field(default_factory=list)
    tasks_removed: list[tuple[str, int]] = field(default_factory=list)  # (ref, reports on its milestones)
    moved: list[MilestoneChange] = field(default_factory=list)
    withdrawn: list[MilestoneChange] = field(default_factory=list)
    restored: list[MilestoneChange] = field(default_factory=list)
    kept_closed: list[MilestoneChange] = field(default_factory=list)  # 已销号, gone from the source: kept
    closeouts_voided: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.header
            or self.tasks_added
            or self.tasks_removed
            or self.moved
            or self.withdrawn
            or self.restored
            or self.kept_closed
        )


@dataclass
class SeedSummary:
    plans: int = 0
    tasks: int = 0
    milestones: int = 0
    created: int = 0
    updated: int = 0
    changes: list[PlanChanges] = field(default_factory=list)


class PlanCollision(Refused):
    """A source names a plan key that holds another plan (another issuer, document number or title)."""


# what makes a plan the plan it is: a document with another of these is another plan, whatever its key
IDENTITY = ("title", "issuer", "doc_number")
VOIDED_CLOSEOUT_REASON = "该节点已从方案中撤销"


class _SeedLoader(yaml.SafeLoader):
    """YAML without its own date parsing: dates reach the schema as text, so `due_on: 2025-13-40` is refused
    naming its task and field instead of failing inside the YAML parser."""


_SeedLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_seed_file(path: Path) -> SeedPlan:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SeedLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行附近" if mark is not None else "某处"
        raise SeedError(f"{path.name}：{where}不是有效的 YAML") from exc
    try:
        return SeedPlan.model_validate(raw)
    except ValidationError as exc:
        raise SeedError(_describe_validation_error(path, raw, exc)) from exc


def _describe_validation_error(path: Path, raw: object, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = "方案"
        if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            task_ref = "?"
            if isinstance(raw, dict) and isinstance(raw.get("tasks"), list) and loc[1] < len(raw["tasks"]):
                entry = raw["tasks"][loc[1]]
                task_ref = str(entry.get("ref", "?")) if isinstance(entry, dict) else "?"
            where = f"任务 {task_ref}（tasks[{loc[1]}]）"
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or "整项"
        lines.append(f"{path.name}：{where}，字段 {field}：{error_message(error)}")
    return "\n".join(lines)


def read_seed_files(paths: Iterable[Path] | None = None) -> list[SeedPlan]:
    """Validate every file before anything is written, so a broken file loads nothing."""
    plans = [read_seed_file(p) for p in (seed_files() if paths is None else paths)]
    keys = [p.key for p in plans]
    if len(set(keys)) != len(keys):
        raise SeedError(
            f"多个种子文件使用同一方案编号：{'、'.join(sorted(k for k in set(keys) if keys.count(k) > 1))}"
        )
    return plans


def load_seed(
    *,
    session: Session,
    paths: Iterable[Path] | None = None,
    replace: Collection[str] = (),
    by: str = "duban seed",
) -> SeedSummary:
    plans = read_seed_files(paths)
    log.info("seeding %d plans", len(plans))
    summary = load_plans(session=session, plans=plans, replace=replace, by=by)
    log.info("seeding done: %s", summary)
    return summary


def load_plans(
    *,
    session: Session,
    plans: Sequence[SeedPlan],
    replace: Collection[str] = (),
    by: str = "duban seed",
    now: dt.datetime | None = None,
) -> SeedSummary:
    """Upsert already-validated plans in one transaction (seed files, import-plan and the xlsx import land here).

    Each source is the whole plan: a milestone it no longer has is withdrawn, a moved date moves the milestone
    (see `_match_milestones`). A plan key that holds a plan of another issuer, document number or title is refused
    (PlanCollision, nothing written) unless the key is in `replace`. `by` says who loaded it, for the record of
    what is withdrawn (the command, its file and the operator).
    """
    check_keys(session=session, plans=plans, replace=replace)
    summary = SeedSummary()
    load = _Load(session=session, by=by, now=now or utcnow(), replace=frozenset(replace))
    try:
        for seed in plans:
            _upsert_plan(load=load, seed=seed, summary=summary)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return summary


def check_keys(*, session: Session, plans: Sequence[SeedPlan], replace: Collection[str] = ()) -> None:
    """Refuse, before anything is written, a source whose key holds another plan (another title, issuer or document
    number) unless that key is to be replaced, and a key to replace that is not there to be replaced."""
    for key in replace:
        if key not in {seed.key for seed in plans}:
            raise Refused("--replace {key}: nothing being loaded has that key", key=key)
        if session.exec(select(Plan.id).where(Plan.key == key)).first() is None:
            raise Refused(
                "There is no plan with the key {key} to replace; `duban plans list` lists the plans", key=key
            )
    for seed in plans:
        plan = session.exec(select(Plan).where(Plan.key == seed.key)).first()
        if plan is None or seed.key in replace:
            continue
        if any(getattr(plan, name) != getattr(seed, name) for name in IDENTITY):
            raise PlanCollision(
                "The plan key {key} holds another plan, 《{title}》 ({issuer} {doc_number}); this source is "
                "《{new_title}》 ({new_issuer} {new_doc_number}). Nothing was loaded. To load it in that plan's "
                "place add --replace {key}; to keep both give it another key (`duban plans list` lists the keys)",
                key=seed.key,
                title=plan.title,
                issuer=plan.issuer,
                doc_number=plan.doc_number or "—",
                new_title=seed.title,
                new_issuer=seed.issuer,
                new_doc_number=seed.doc_number or "—",
            )


@dataclass(frozen=True)
class _Load:
    session: Session
    by: str
    now: dt.datetime
    replace: frozenset[str]


def _upsert_plan(*, load: _Load, seed: SeedPlan, summary: SeedSummary) -> None:
    session = load.session
    plan = session.exec(select(Plan).where(Plan.key == seed.key)).first()
    values: dict[str, Any] = {  # column name -> value, for the constructor or _assign
        "title": seed.title,
        "issuer": seed.issuer,
        "doc_number": seed.doc_number,
        "issued_on": seed.issued_on,
        "region": seed.region,
    }
    changes = PlanChanges(key=seed.key, new=plan is None)
    before: dict[str, Task] = {}
    if plan is None:
        plan = Plan(key=seed.key, **values)
        session.add(plan)
        summary.created += 1
    else:
        changes.header = [
            (name, _text(getattr(plan, name)), _text(value))
            for name, value in values.items()
            if getattr(plan, name) != value
        ]
        before = {task.ref: task for task in plan.tasks}
        _assign(plan, values, summary)
    session.flush()
    summary.plans += 1
    if changes.header and seed.key in load.replace:
        audit.record(
            session,
            now=load.now,
            contact_id=None,
            action="replace_plan",
            detail=f"plan={seed.key} by={load.by} "
            + " ".join(f"{name}={old!r}->{new!r}" for name, old, new in changes.header),
        )

    departments = _ensure_departments(session=session, seed=seed)
    for position, seed_task in enumerate(seed.tasks):
        if not changes.new and seed_task.ref not in before:
            changes.tasks_added.append(seed_task.ref)
        _upsert_task(
            load=load,
            plan=plan,
            seed_task=seed_task,
            position=position,
            departments=departments,
            summary=summary,
            changes=changes,
        )
    listed = {seed_task.ref for seed_task in seed.tasks}
    gone = [task for ref, task in before.items() if ref not in listed]
    for position, task in enumerate(gone, start=len(seed.tasks)):
        _remove_task(load=load, task=task, position=position, summary=summary, changes=changes)
    session.flush()
    summary.changes.append(changes)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _assign(row: object, values: Mapping[str, object], summary: SeedSummary) -> None:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        summary.updated += 1


def _ensure_departments(*, session: Session, seed: SeedPlan) -> dict[str, Department]:
    """Map every name the plan prints to its Department row, creating what is missing."""
    printed = {name for task in seed.tasks for name in (*task.lead, *task.co)}
    by_printed: dict[str, Department] = {}
    for name in sorted(printed | set(seed.departments)):
        canonical = seed.canonical_department(name)
        department = _find_department(session=session, region=seed.region, name=canonical)
        if department is None:
            department = Department(name=canonical, region=seed.region)
            session.add(department)
            session.flush()
        by_printed[name] = department
    for canonical, aliases in seed.departments.items():
        department = by_printed[canonical]
        for alias in aliases:
            exists = session.exec(
                select(DepartmentAlias).where(
                    DepartmentAlias.region == seed.region, DepartmentAlias.name == alias
                )
            ).first()
            if exists is None:
                assert department.id is not None  # found or flushed above
                session.add(DepartmentAlias(department_id=department.id, region=seed.region, name=alias))
            by_printed[alias] = department
    session.flush()
    return by_printed


def _find_department(*, session: Session, region: str, name: str) -> Department | None:
    department = session.exec(
        select(Department).where(Department.region == region, Department.name == name)
    ).first()
    if department is not None:
        return department
    alias = session.exec(
        select(DepartmentAlias).where(DepartmentAlias.region == region, DepartmentAlias.name == name)
    ).first()
    return alias.department if alias is not None else None


def _upsert_task(
    *,
    load: _Load,
    plan: Plan,
    seed_task: SeedTask,
    position: int,
    departments: dict[str, Department],
    summary: SeedSummary,
    changes: PlanChanges,
) -> None:
    session = load.session
    task = session.exec(select(Task).where(Task.plan_id == plan.id, Task.ref == seed_task.ref)).first()
    values: dict[str, Any] = {
        "section": seed_task.section.value,
        "title": seed_task.title,
        "text": seed_task.text,
        "position": position,
    }
    assert plan.id is not None  # flushed by _upsert_plan
    if task is None:
        task = Task(plan_id=plan.id, ref=seed_task.ref, **values)
        session.add(task)
        session.flush()
        summary.created += 1
    else:
        _assign(task, values, summary)
    summary.tasks += 1

    wanted = [(DepartmentRole.lead, name) for name in seed_task.lead] + [
        (DepartmentRole.co, name) for name in seed_task.co
    ]
    existing = {link.department_id: link for link in task.department_links}
    keep: set[int] = set()
    for link_position, (role, name) in enumerate(wanted):
        department = departments[name]
        assert department.id is not None
        keep.add(department.id)
        link = existing.get(department.id)
        link_values: dict[str, Any] = {"role": role.value, "printed_as": name, "position": link_position}
        if link is None:
            assert task.id is not None  # flushed above
            session.add(TaskDepartment(task_id=task.id, department_id=department.id, **link_values))
            summary.created += 1
        else:
            _assign(link, link_values, summary)
    for department_id, link in existing.items():
        if department_id not in keep:
            session.delete(link)
            summary.updated += 1

    _reconcile_milestones(load=load, task=task, wanted=seed_task.milestones, summary=summary, changes=changes)
    summary.milestones += len(seed_task.milestones)
    session.flush()


def _reconcile_milestones(
    *, load: _Load, task: Task, wanted: Sequence[SeedMilestone], summary: SeedSummary, changes: PlanChanges
) -> None:
    """The task's milestones become the source's: matched ones updated in place (a moved date moves the
    milestone, and its reports, reminders and ladder go with it), new ones added, the rest withdrawn."""
    assert task.id is not None  # flushed by _upsert_task
    pairs, new, left = _match_milestones(list(task.milestones), wanted)
    counts = _report_counts(load.session, [m.id for m in left] + [m.id for m, _ in pairs])
    for milestone, seed_milestone in pairs:
        if milestone.status == MilestoneStatus.withdrawn:  # the source lists it again
            milestone.status = MilestoneStatus.open
            milestone.withdrawn_at = milestone.withdrawn_by = None
            changes.restored.append(_change(task, milestone, counts))
            _audit(load, "restore_milestone", milestone, "")
            summary.updated += 1
        elif milestone.due_on != seed_milestone.due_on:
            changes.moved.append(_change(task, milestone, counts, moved_to=seed_milestone.due_on))
            _audit(load, "move_milestone", milestone, f"from={milestone.due_on} to={seed_milestone.due_on}")
        _assign(
            milestone,
            {"due_on": seed_milestone.due_on, "target": seed_milestone.target, "until": seed_milestone.until},
            summary,
        )
    for seed_milestone in new:
        load.session.add(
            Milestone(
                task_id=task.id,
                due_on=seed_milestone.due_on,
                recurrence=Recurrence(seed_milestone.recurrence.value),
                target=seed_milestone.target,
                until=seed_milestone.until,
            )
        )
        summary.created += 1
    for milestone in left:
        _withdraw(load=load, task=task, milestone=milestone, counts=counts, summary=summary, changes=changes)


def _match_milestones(
    existing: list[Milestone], wanted: Sequence[SeedMilestone]
) -> tuple[list[tuple[Milestone, SeedMilestone]], list[SeedMilestone], list[Milestone]]:
    """Which milestone of the task each of the source's is: (pairs, the source's new ones, the task's left over).

    Only milestones of one kind (one-off, yearly, semester, monthly) are ever paired, by these rules in turn:
    1. the same date: the same milestone, its target perhaps reworded (a withdrawn one is restored);
    2. the same target, where exactly one milestone on each side has it: the date moved;
    3. where the same number is left on both sides, in date order: the dates moved (one milestone to one
       milestone, the usual case, whatever its wording).
    What is left of the source is added, what is left of the task is withdrawn (a closed-out one is kept).
    Pairing by date first keeps every move conflict-free (no milestone moves onto a date another one still
    holds); a task whose every date shifted by one period therefore keeps the overlapping date in place with the
    other's target, and the command lists each move so it can be checked.
    """
    by_slot = {_slot(m): m for m in existing}
    pairs: list[tuple[Milestone, SeedMilestone]] = []
    rest: list[SeedMilestone] = []
    for seed_milestone in wanted:
        found = by_slot.get((seed_milestone.due_on, seed_milestone.recurrence.value))
        if found is None:
            rest.append(seed_milestone)
        else:
            pairs.append((found, seed_milestone))

    def unpaired() -> list[Milestone]:  # by identity: rows compare by their fields
        taken = {id(m) for m, _ in pairs}
        return [m for m in existing if m.status != MilestoneStatus.withdrawn and id(m) not in taken]

    def kind(item: Milestone | SeedMilestone) -> str:
        return str(item.recurrence)

    for seed_milestone in list(rest):
        same = [
            m for m in unpaired() if kind(m) == kind(seed_milestone) and m.target == seed_milestone.target
        ]
        twins = [w for w in rest if kind(w) == kind(seed_milestone) and w.target == seed_milestone.target]
        if len(same) == 1 and len(twins) == 1:
            pairs.append((same[0], seed_milestone))
            rest.remove(seed_milestone)
    for recurrence in Recurrence:
        mine = sorted((m for m in unpaired() if kind(m) == recurrence), key=lambda m: (m.due_on, m.id or 0))
        theirs = sorted((w for w in rest if kind(w) == recurrence), key=lambda w: w.due_on)
        if mine and len(mine) == len(theirs):
            pairs += zip(mine, theirs, strict=True)
            rest = [w for w in rest if all(w is not t for t in theirs)]
    return pairs, rest, unpaired()


def _slot(milestone: Milestone) -> tuple[dt.date, str]:
    """What the unique constraint keys a milestone of a task by."""
    return milestone.due_on, str(milestone.recurrence)


def _withdraw(
    *,
    load: _Load,
    task: Task,
    milestone: Milestone,
    counts: dict[int, int],
    summary: SeedSummary,
    changes: PlanChanges,
) -> None:
    """A milestone the source no longer has: closed as withdrawn (never deleted, so its reports stay), unless it
    was closed out already, which is history the source cannot undo."""
    if milestone.status == MilestoneStatus.done:
        changes.kept_closed.append(_change(task, milestone, counts))
        return
    milestone.status = MilestoneStatus.withdrawn
    milestone.withdrawn_at = load.now
    milestone.withdrawn_by = load.by[: limits.WITHDRAWN_BY]
    changes.withdrawn.append(_change(task, milestone, counts))
    _audit(load, "withdraw_milestone", milestone, "")
    summary.updated += 1
    # a 销号 request still waiting would close out what the plan no longer has
    for closeout in load.session.exec(
        select(CloseoutRequest).where(
            CloseoutRequest.milestone_id == milestone.id, CloseoutRequest.status == CloseoutStatus.pending
        )
    ).all():
        closeout.status = CloseoutStatus.rejected
        closeout.decided_at = load.now
        closeout.reason = VOIDED_CLOSEOUT_REASON
        load.session.add(closeout)
        changes.closeouts_voided += 1


def _remove_task(
    *, load: _Load, task: Task, position: int, summary: SeedSummary, changes: PlanChanges
) -> None:
    """A task the source no longer has: its milestones are withdrawn (the task stays for their reports); one with
    no milestone at all holds nothing and goes."""
    if not task.milestones:
        load.session.delete(task)
        changes.tasks_removed.append((task.ref, 0))
        summary.updated += 1
        return
    live = [m for m in task.milestones if m.status != MilestoneStatus.withdrawn]
    if not live:
        return  # withdrawn by an earlier load
    counts = _report_counts(load.session, [m.id for m in task.milestones])
    for milestone in live:
        _withdraw(load=load, task=task, milestone=milestone, counts=counts, summary=summary, changes=changes)
    changes.tasks_removed.append((task.ref, sum(counts.values())))
    task.position = position  # after the tasks the plan still has
    load.session.add(task)


def _report_counts(session: Session, milestone_ids: Sequence[int | None]) -> dict[int, int]:
    ids = [i for i in milestone_ids if i is not None]
    if not ids:
        return {}
    rows = session.exec(
        select(ProgressReport.milestone_id, func.count())
        .where(col(ProgressReport.milestone_id).in_(ids))
        .group_by(col(ProgressReport.milestone_id))
    ).all()
    return {milestone_id: n for milestone_id, n in rows}


def _change(
    task: Task, milestone: Milestone, counts: dict[int, int], *, moved_to: dt.date | None = None
) -> MilestoneChange:
    return MilestoneChange(
        task_ref=task.ref,
        recurrence=str(milestone.recurrence),
        due_on=milestone.due_on,
        moved_to=moved_to,
        reports=counts.get(milestone.id or 0, 0),
    )


def _audit(load: _Load, action: str, milestone: Milestone, detail: str) -> None:
    audit.record(
        load.session,
        now=load.now,
        contact_id=None,
        action=action,
        milestone_id=milestone.id,
        detail=f"{detail} by={load.by}".strip(),
    )
