"""`duban seed`: loads every plan, twice changes nothing, a broken file loads nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, func, select

from duban.seeding import SeedError, load_seed
from models import Department, DepartmentRole, Milestone, Plan, Task
from seed_data import seed_files


def _snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"')).all()), key=repr) for t in tables
        }


def test_seeding_twice_gives_the_same_database(engine: Engine) -> None:
    with Session(engine) as session:
        first = load_seed(session=session)
    before = _snapshot(engine)
    with Session(engine) as session:
        second = load_seed(session=session)
    assert _snapshot(engine) == before
    assert (second.created, second.updated) == (0, 0)
    assert (first.plans, first.tasks, first.milestones) == (5, 139, 89)


def test_departments_of_two_counties_are_kept_apart(seeded: Session) -> None:
    zichuan = seeded.exec(select(Department).where(Department.name == "区教体局")).one()
    changqing = seeded.exec(select(Department).where(Department.name == "区教育体育局")).one()
    assert (zichuan.region, changqing.region) == ("淄博市淄川区", "济南市长清区")


def test_a_name_printed_two_ways_is_one_department(seeded: Session) -> None:
    task = seeded.exec(
        select(Task).join(Plan).where(Plan.key == "zibo-zichuan-2023", Task.ref == "附件-7")
    ).one()
    assert [d.name for d in task.departments(DepartmentRole.lead)] == ["区教体局"]
    assert [link.printed_as for link in task.department_links if link.role == "lead"] == ["区教育局"]


def _copy_seeds(tmp_path: Path) -> list[Path]:
    copies = []
    for path in seed_files():
        target = tmp_path / path.name
        shutil.copy(path, target)
        copies.append(target)
    return copies


def test_a_broken_file_is_named_with_task_and_field_and_nothing_is_loaded(
    engine: Engine, tmp_path: Path
) -> None:
    copies = _copy_seeds(tmp_path)
    broken = next(p for p in copies if p.name == "zibo-zichuan-2023.yaml")
    data = yaml.safe_load(broken.read_text(encoding="utf-8"))
    data["tasks"][2]["milestones"][0]["due_on"] = "2027-02-30"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    with Session(engine) as session, pytest.raises(SeedError) as caught:
        load_seed(session=session, paths=copies)

    message = str(caught.value)
    assert "zibo-zichuan-2023.yaml" in message
    assert "task （三）" in message
    assert "milestones.0.due_on" in message
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Plan)).one() == 0
        assert session.exec(select(func.count()).select_from(Milestone)).one() == 0


def test_a_file_that_is_not_yaml_is_named(engine: Engine, tmp_path: Path) -> None:
    copies = _copy_seeds(tmp_path)
    copies[0].write_text("key: [unclosed\n", encoding="utf-8")
    with Session(engine) as session, pytest.raises(SeedError, match=copies[0].name):
        load_seed(session=session, paths=copies)
