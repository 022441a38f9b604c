"""Load the reviewed seed files into the database: all-or-nothing, and idempotent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, select

from models import (
    Department,
    DepartmentAlias,
    DepartmentRole,
    Milestone,
    Plan,
    Recurrence,
    Task,
    TaskDepartment,
)
from seed_data import seed_files
from seed_data.schema import SeedPlan, SeedTask

log = logging.getLogger(__name__)


class SeedError(Exception):
    """A seed file is broken; the message names the file, the task and the field."""


@dataclass
class SeedSummary:
    plans: int = 0
    tasks: int = 0
    milestones: int = 0
    created: int = 0
    updated: int = 0


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
        raise SeedError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        return SeedPlan.model_validate(raw)
    except ValidationError as exc:
        raise SeedError(_describe_validation_error(path, raw, exc)) from exc


def _describe_validation_error(path: Path, raw: object, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = "plan"
        if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            task_ref = "?"
            if isinstance(raw, dict) and isinstance(raw.get("tasks"), list) and loc[1] < len(raw["tasks"]):
                entry = raw["tasks"][loc[1]]
                task_ref = str(entry.get("ref", "?")) if isinstance(entry, dict) else "?"
            where = f"task {task_ref} (tasks[{loc[1]}])"
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or "(whole entry)"
        lines.append(f"{path.name}: {where}, field {field}: {error['msg']}")
    return "\n".join(lines)


def read_seed_files(paths: Iterable[Path] | None = None) -> list[SeedPlan]:
    """Validate every file before anything is written, so a broken file loads nothing."""
    plans = [read_seed_file(p) for p in (seed_files() if paths is None else paths)]
    keys = [p.key for p in plans]
    if len(set(keys)) != len(keys):
        raise SeedError(
            f"two seed files share a plan key: {sorted(k for k in set(keys) if keys.count(k) > 1)}"
        )
    return plans


def load_seed(*, session: Session, paths: Iterable[Path] | None = None) -> SeedSummary:
    plans = read_seed_files(paths)
    log.info("seeding %d plans", len(plans))
    summary = load_plans(session=session, plans=plans)
    log.info("seeding done: %s", summary)
    return summary


def load_plans(*, session: Session, plans: Sequence[SeedPlan]) -> SeedSummary:
    """Upsert already-validated plans in one transaction (seed files and the xlsx import land here)."""
    summary = SeedSummary()
    try:
        for seed in plans:
            _upsert_plan(session=session, seed=seed, summary=summary)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return summary


def _upsert_plan(*, session: Session, seed: SeedPlan, summary: SeedSummary) -> None:
    plan = session.exec(select(Plan).where(Plan.key == seed.key)).first()
    values: dict[str, Any] = {  # column name -> value, for the constructor or _assign
        "title": seed.title,
        "issuer": seed.issuer,
        "doc_number": seed.doc_number,
        "issued_on": seed.issued_on,
        "region": seed.region,
    }
    if plan is None:
        plan = Plan(key=seed.key, **values)
        session.add(plan)
        summary.created += 1
    else:
        _assign(plan, values, summary)
    session.flush()
    summary.plans += 1

    departments = _ensure_departments(session=session, seed=seed)
    for position, seed_task in enumerate(seed.tasks):
        _upsert_task(
            session=session,
            plan=plan,
            seed_task=seed_task,
            position=position,
            departments=departments,
            summary=summary,
        )


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
    session: Session,
    plan: Plan,
    seed_task: SeedTask,
    position: int,
    departments: dict[str, Department],
    summary: SeedSummary,
) -> None:
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

    for seed_milestone in seed_task.milestones:
        milestone = session.exec(
            select(Milestone).where(
                Milestone.task_id == task.id,
                Milestone.due_on == seed_milestone.due_on,
                Milestone.recurrence == seed_milestone.recurrence.value,
            )
        ).first()
        milestone_values: dict[str, Any] = {"target": seed_milestone.target, "until": seed_milestone.until}
        if milestone is None:
            assert task.id is not None  # flushed above
            session.add(
                Milestone(
                    task_id=task.id,
                    due_on=seed_milestone.due_on,
                    recurrence=Recurrence(seed_milestone.recurrence.value),
                    **milestone_values,
                )
            )
            summary.created += 1
        else:
            _assign(milestone, milestone_values, summary)
        summary.milestones += 1
    session.flush()
