"""The two commands, registered on an argparse parser the way duban.cli registers them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from duban.config import Settings
from duban.db import create_schema, make_engine
from duban.plan_import.cli import add_commands
from models import Milestone, Plan, Task
from seed_data.check import main as check
from seed_data.schema import SeedPlan

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="duban")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args, settings))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'import.db'}")


def test_import_plan_prints_a_seed_file_then_what_to_check(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["import-plan", str(FIXTURES / "heyang-2024.txt")], settings) == 0
    out = capsys.readouterr().out
    plan = SeedPlan.model_validate(yaml.safe_load(out))
    assert plan.key == "合阳县-2024-7"  # 合政办发〔2024〕7号 of 合阳县, whatever the file is called
    tail = out.rstrip().splitlines()
    assert tail[-7].startswith("# 待核对")
    assert any("（二）2：未找到责任部门" in line for line in tail)


def test_import_plan_output_validates_and_loads(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "qishan.yaml"
    argv = [
        "import-plan",
        str(FIXTURES / "qishan-2024.txt"),
        "--output",
        str(out),
        "--load",
        "--key",
        "qishan",
    ]
    assert _run(argv, settings) == 0
    assert check([str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 项任务" in printed and "已载入" in printed
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.key == "qishan")).one()
        assert len(session.exec(select(Task).where(Task.plan_id == plan.id)).all()) == 6
        assert len(session.exec(select(Milestone)).all()) == 6
    engine.dispose()
    # loading again changes nothing
    assert _run(argv, settings) == 0
    assert "新增 0 条，更新 0 条" in capsys.readouterr().out


def test_import_plan_refuses_what_it_cannot_read(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert _run(["import-plan", str(pdf)], settings) == 1
    assert "未能导入" in capsys.readouterr().err


def test_import_agreement_prints_the_table(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["import-agreement"], settings) == 0
    out = capsys.readouterr().out
    assert "all plans at or above 95% on every measure" in out
    for key in (
        "anqiu-2023",
        "jinan-changqing-2023",
        "liaocheng-gaoxin-2023",
        "pengshui-2023",
        "zibo-zichuan-2023",
    ):
        assert key in out
