"""The two commands, registered on an argparse parser the way duban.cli registers them."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, col, func, select

from duban.cli import main
from duban.config import Settings
from duban.db import create_schema, make_engine
from duban.plan_import.cli import add_commands
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import record_report
from models import Contact, ContactRole, Milestone, MilestoneStatus, Plan, ProgressReport, ReportStatus, Task
from seed_data.check import main as check
from seed_data.schema import SeedPlan
from tests.zones import DEFAULT_TZ

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
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "方案原文导入结果与审定的 seed_data 比对（占审定任务的比例）："
    assert lines[1].split() == ["方案", "审定任务", "找到任务", "部门一致", "时间节点一致", "多出任务"]
    assert [line.split()[0] for line in lines[2:7]] == [
        "anqiu-2023",
        "jinan-changqing-2023",
        "liaocheng-gaoxin-2023",
        "pengshui-2023",
        "zibo-zichuan-2023",
    ]
    assert lines[2].split()[1:] == ["37", "100.0%", "100.0%", "100.0%", "0"]
    assert lines[-1] == "全部方案各项均不低于 95%。"
    words = "\n".join([lines[0], lines[1], lines[-1], *(" ".join(line.split()[1:]) for line in lines[2:7])])
    assert not re.search(r"[A-Za-z]{2,}", words.replace("seed_data", ""))  # plan keys aside, no English


# ---------------------------------------------------------------- a plan is one thing: keys, collisions, --replace

SOURCES = Path(__file__).resolve().parents[2] / "seed_data" / "sources"
QISHAN_KEY = "岐山县-2024-3"  # 岐教发〔2024〕3号 of 岐山县


def _saved_as(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _qishan(**replacements: str) -> str:
    text = (FIXTURES / "qishan-2024.txt").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _table(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as connection:
        return {
            t: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{t}"')).all()), key=repr)
            for t in tables
        }


def _plans(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return sorted((p.key, p.title) for p in session.exec(select(Plan)).all())


def test_two_plans_saved_under_one_file_name_stay_two_plans(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anqiu = (SOURCES / "anqiu-2023.txt").read_text(encoding="utf-8")
    zichuan = (SOURCES / "zibo-zichuan-2023.txt").read_text(encoding="utf-8")
    assert main(["import-plan", str(_saved_as(tmp_path / "a", "实施方案.txt", anqiu)), "--load"]) == 0
    assert main(["import-plan", str(_saved_as(tmp_path / "b", "实施方案.txt", zichuan)), "--load"]) == 0
    engine = make_engine(cli_env)
    assert _plans(engine) == [
        ("安丘市-2023-46", "安丘市全面推进乡村教育振兴工作方案"),
        ("淄川区-2023-28", "淄川区推进乡村教育振兴工作方案"),
    ]
    with Session(engine) as session:
        counts = dict(session.exec(select(Plan.key, func.count()).join(Task).group_by(col(Plan.key))).all())
    assert counts == {"安丘市-2023-46": 37, "淄川区-2023-28": 54}
    engine.dispose()


def test_a_second_plan_under_a_key_already_taken_is_refused_and_nothing_changes(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-plan", str(_saved_as(tmp_path / "a", "计划.txt", _qishan())), "--load"]) == 0
    engine = make_engine(cli_env)
    before = _table(engine)
    capsys.readouterr()
    # another issuer's series, the same year and serial: the same derived key, another plan
    other = _qishan(
        **{
            "岐山县教育局\n关于": "岐山县人民政府办公室\n关于",
            "岐教发〔2024〕3号": "岐政办发〔2024〕3号",
            "岐山县教育局\n2024 年": "岐山县人民政府办公室\n2024 年",
            "乡村学校\n振兴三年行动计划": "乡村教师\n队伍建设行动计划",
            "《岐山县乡村学校振兴三年\n行动计划》": "《岐山县乡村教师队伍建设行动计划》",
        }
    )
    output = tmp_path / "b" / "seed.yaml"
    argv = [
        "import-plan",
        str(_saved_as(tmp_path / "b", "计划.txt", other)),
        "--load",
        "--output",
        str(output),
    ]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1)
    assert err.startswith(
        f"编号 {QISHAN_KEY} 已是另一个方案《岐山县乡村学校振兴三年行动计划》（岐山县教育局 岐教发〔2024〕3号），"
        "本文件是《岐山县乡村教师队伍建设行动计划》（岐山县人民政府办公室 岐政办发〔2024〕3号），未载入任何内容。"
    )
    assert _table(engine) == before
    assert not output.exists()  # nothing written: not even the seed file asked for
    engine.dispose()


def test_a_mistyped_key_of_another_plan_is_refused(
    cli_env: str, seeded: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(cli_env)
    before = _table(engine)
    zichuan = _saved_as(
        tmp_path, "实施方案.txt", (SOURCES / "zibo-zichuan-2023.txt").read_text(encoding="utf-8")
    )
    assert main(["import-plan", str(zichuan), "--load", "--key", "anqiu-2023"]) == 1
    assert capsys.readouterr().err.startswith(
        "编号 anqiu-2023 已是另一个方案《安丘市全面推进乡村教育振兴工作方案》"
    )
    assert _table(engine) == before
    engine.dispose()


@pytest.mark.parametrize("key", ["Anqiu 2023", "anqiu_2023", "x" * 61])
def test_a_key_that_cannot_be_one_is_refused_while_parsing(
    cli_env: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["import-plan", str(FIXTURES / "qishan-2024.txt"), "--load", "--key", key])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"“{key}”不能作为方案编号" in err


def _reporter(session: Session) -> Contact:
    department = resolve_department(session=session, name="县教育局", region="岐山县")
    now = dt.datetime(2024, 4, 1, 2, tzinfo=dt.UTC)
    issued = create_invite(
        session=session, department=department, role=ContactRole.contact, now=now, ttl=dt.timedelta(days=7)
    )
    return redeem_invite(session=session, token=issued.token, telegram_user_id=77, language="zh_CN", now=now)


def _milestone(session: Session, ref: str) -> Milestone:
    session.expire_all()
    return session.exec(
        select(Milestone).join(Task).join(Plan).where(Plan.key == QISHAN_KEY, Task.ref == ref)
    ).one()


def test_replace_moves_dates_in_place_withdraws_what_is_gone_keeps_every_report_and_says_so(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import-plan", str(_saved_as(tmp_path / "a", "计划.txt", _qishan())), "--load"]) == 0
    engine = make_engine(cli_env)
    with Session(engine) as session:
        contact = _reporter(session)
        reported = {ref: _milestone(session, ref).id or 0 for ref in ("（一）", "附件-3", "附件-2")}
        for milestone_id in reported.values():
            record_report(
                session=session,
                contact=contact,
                milestone_id=milestone_id,
                status=ReportStatus.on_track,
                percent=30,
                note="推进中",
                now=dt.datetime(2024, 5, 6, 2, tzinfo=dt.UTC),
                tz=DEFAULT_TZ,
            )
    capsys.readouterr()
    # reissued: another number and date, a new title, 绿化 a year later, 食堂改造 gone
    revised = _qishan(
        **{
            "岐教发〔2024〕3号": "岐教发〔2024〕9号",
            "2024 年 3 月 8 日": "2024 年 6 月 1 日",
            "振兴三年行动计划的通知": "振兴三年行动方案的通知",
            "行动计划》": "行动方案》",
            "岐山县乡村学校振兴三年行动计划\n一、": "岐山县乡村学校振兴三年行动方案\n一、",
            "到 2025 年，乡村学校绿": "到 2026 年，乡村学校绿",
        }
    )
    revised = revised[: revised.index("— 7 —")]
    argv = ["import-plan", str(_saved_as(tmp_path / "b", "修订.txt", revised)), "--replace", QISHAN_KEY]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out[out.index(f"方案 {QISHAN_KEY} 的变化：") :].splitlines() == [
        f"方案 {QISHAN_KEY} 的变化：",
        "  标题：岐山县乡村学校振兴三年行动计划 → 岐山县乡村学校振兴三年行动方案",
        "  文号：岐教发〔2024〕3号 → 岐教发〔2024〕9号",
        "  印发日期：2024-03-08 → 2024-06-01",
        "  删除任务 1 项（其时间节点撤销）：附件-3（1 条汇报保留）",
        "  时限调整 1 个（汇报随节点保留）：（一） 2025-12-31 → 2026-12-31（1 条汇报保留）",
        "  撤销节点 1 个：附件-3 2025-12-31（1 条汇报保留）",
    ]
    with Session(engine) as session:
        moved, gone, unchanged = (_milestone(session, ref) for ref in ("（一）", "附件-3", "附件-2"))
        assert (moved.id, moved.due_on, moved.status) == (
            reported["（一）"],
            dt.date(2026, 12, 31),
            MilestoneStatus.open,
        )
        assert (gone.id, gone.status) == (reported["附件-3"], MilestoneStatus.withdrawn)
        assert gone.withdrawn_by is not None
        assert gone.withdrawn_by.startswith(f"duban import-plan 修订.txt --replace {QISHAN_KEY} (")
        assert (unchanged.id, unchanged.due_on) == (reported["附件-2"], dt.date(2026, 12, 31))
        reports = session.exec(select(ProgressReport.milestone_id)).all()
        assert sorted(reports) == sorted(reported.values())  # every report kept, where it was
        plan = session.exec(select(Plan).where(Plan.key == QISHAN_KEY)).one()
        assert (plan.title, plan.doc_number) == ("岐山县乡村学校振兴三年行动方案", "岐教发〔2024〕9号")
        assert [p.key for p in session.exec(select(Plan))] == [QISHAN_KEY]  # replaced, not added
    engine.dispose()


def test_replace_needs_a_plan_to_replace(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-plan", str(FIXTURES / "qishan-2024.txt"), "--replace", "qishan"]) == 1
    assert capsys.readouterr().err == "没有编号为“qishan”的方案可替换；duban plans list 列出全部方案\n"


# ---------------------------------------------------------------- a file it cannot read: one Chinese line


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        (
            "broken.docx",
            b"not a zip package",
            "未能导入：broken.docx：不是可以读取的 .docx 文件（文件已损坏，或不是 Word 文档；.doc 请先另存为 .docx）",
        ),
        (
            "latin.txt",
            "一、总体要求".encode() + b"\xff\x80\xff",
            "未能导入：latin.txt：文本文件既不是 UTF-8 也不是 GB18030（GBK）编码，请另存为 UTF-8 后再导入",
        ),
        ("plan.pdf", b"%PDF-1.4", "未能导入：plan.pdf：只能导入 .txt 或 .docx 格式的方案原文"),
        ("nosuch.txt", None, "无法使用文件 nosuch.txt：没有这个文件或文件夹"),
        ("a-folder.txt", "folder", "无法使用文件 a-folder.txt：这是文件夹，不是文件"),
    ],
)
def test_a_file_it_cannot_read_is_one_chinese_line(
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | str | None,
    says: str,
) -> None:
    if content == "folder":
        (tmp_path / name).mkdir()
    elif isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    assert main(["import-plan", name]) == 1  # cli_env works in tmp_path
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", says + "\n")
