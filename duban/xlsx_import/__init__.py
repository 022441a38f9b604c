"""`duban import-xlsx`: spreadsheets in.

Reads a workbook in the shape `duban export --format xlsx` writes (a cover sheet of counts, which
is skipped, then one sheet per plan, named by region, one row per task × milestone) or a 重点项目清单 (序号 / 项目名称 / 主要任务 / 工作目标 /
牵头部门 / 参与部门, or 完成时限 / 责任分工), turns every sheet into seed tasks, validates them, and
writes them through the seed loader's upsert (plan key + task ref), so importing again updates
rather than duplicates. Every problem is collected first, by sheet, row and column; if there is
any, nothing is written.

Steps, one module each: `workbook` (cells, merged cells, the header), `cells` (departments and
deadlines in a cell), `sheets` (rows as seed tasks), `plans` (which plan, merging, the write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from duban.config import Settings
from duban.db import open_database
from duban.ledger import COVER_SHEET_TITLE, load_plans
from duban.operations import run_by
from duban.render import render_changes
from duban.schema_text import error_message
from duban.seeding import SeedSummary
from duban.xlsx_import.errors import Problem, XlsxImportError
from duban.xlsx_import.plans import Draft, sheet_title, write_plans
from duban.xlsx_import.sheets import ledger_tasks, list_tasks
from duban.xlsx_import.workbook import NotAWorkbook, Sheet, open_workbook, read_sheets
from models import Plan
from seed_data.schema import PLAN_KEY_LENGTH, PLAN_KEY_PATTERN

__all__ = ["ImportReport", "NotAWorkbook", "Problem", "XlsxImportError", "add_commands", "import_xlsx"]

PLAN_KEY = re.compile(PLAN_KEY_PATTERN)


@dataclass
class ImportReport:
    sheets: list[str]
    plans: list[str]
    tasks: int  # rows of the workbook read as tasks
    summary: SeedSummary
    notices: list[str] = field(default_factory=list)


@dataclass
class _Options:
    plan_key: str | None
    region: str | None
    title: str | None
    issued_on: dt.date | None
    issuer: str | None


def import_xlsx(
    *,
    session: Session,
    path: Path,
    plan_key: str | None = None,
    region: str | None = None,
    title: str | None = None,
    issued_on: dt.date | None = None,
    issuer: str | None = None,
    by: str = "duban import-xlsx",
) -> ImportReport:
    """Import the workbook, all or nothing. Raises NotAWorkbook or XlsxImportError (nothing written)."""
    workbook = open_workbook(path)
    problems: list[Problem] = []
    notices: list[str] = []
    sheets = read_sheets(workbook, problems)
    options = _Options(plan_key, region, title, issued_on, issuer)
    resolver = _Resolver(session, options, sheets, problems, notices)

    imported = 0
    for sheet in sheets:
        if sheet.empty or (sheet.name == COVER_SHEET_TITLE and not sheet.kind):
            continue  # nothing, or the cover sheet of counts `duban export` writes first
        if not sheet.kind:
            notices.append(
                f"工作表“{sheet.name}”没有可识别的表头（duban 导出的台账列，或 序号、项目名称/主要任务、"
                "牵头/参与部门或责任分工），已跳过。"
            )
            continue
        draft = resolver.draft_for(sheet)
        if draft is None:
            continue
        read = ledger_tasks if sheet.kind == "ledger" else list_tasks
        tasks = read(sheet, issued_on=draft.issued_on, problems=problems)
        for task in tasks:
            draft.put(task, problems, notices)
        imported += len(tasks)
        draft.sheets.append(sheet.name)
    if not any(sheet.kind for sheet in sheets):
        problems.append(
            Problem(None, None, None, f"{path.name} 中没有可导入的工作表（没有找到含“序号”的表头）。")
        )
    if not problems and not resolver.drafts and plan_key is not None:
        # every sheet was skipped: --plan names a plan none of the sheets belongs to
        known = "、".join(sorted(resolver.plans)) or "（无）"
        problems.append(Problem(None, None, None, f"没有工作表属于方案 {plan_key}；数据库中的方案：{known}"))
    if problems:
        raise XlsxImportError(problems)

    seeds = []
    for draft in resolver.drafts.values():
        try:
            seeds.append(draft.seed(source=path.name))
        except ValidationError as exc:
            sheet_names = "、".join(draft.sheets)
            problems += [Problem(sheet_names, None, None, error_message(e)) for e in exc.errors()]
    if problems:
        raise XlsxImportError(problems)
    summary = write_plans(session=session, plans=seeds, by=by)
    return ImportReport(
        sheets=[name for draft in resolver.drafts.values() for name in draft.sheets],
        plans=list(resolver.drafts),
        tasks=imported,
        summary=summary,
        notices=notices,
    )


class _Resolver:
    """Which plan each sheet goes to: by --plan, or a 台账 sheet by its name (the plan's region)."""

    def __init__(
        self,
        session: Session,
        options: _Options,
        sheets: list[Sheet],
        problems: list[Problem],
        notices: list[str],
    ) -> None:
        self.session, self.options, self.problems, self.notices = session, options, problems, notices
        self.plans: dict[str, Plan] = {plan.key: plan for plan in load_plans(session=session)}
        self.drafts: dict[str, Draft] = {}
        self.ledger_sheets = [s.name for s in sheets if s.kind == "ledger"]
        self._refused = False

    def draft_for(self, sheet: Sheet) -> Draft | None:
        key = self.options.plan_key
        if sheet.kind == "list":
            if key is None:
                self.problems.append(
                    Problem(sheet.name, None, None, "这是重点项目清单，请用 --plan 指定要导入的方案")
                )
                return None
            return self._draft(key, sheet)
        if key is not None:
            plan = self.plans.get(key)
            region = plan.region if plan is not None else self.options.region
            if len(self.ledger_sheets) > 1 and (region is None or sheet.name != sheet_title(region)):
                self.notices.append(f"工作表“{sheet.name}”不属于方案 {key}，已跳过。")
                return None
            return self._draft(key, sheet)
        matches = [p for p in self.plans.values() if sheet_title(p.region) == sheet.name]
        if len(matches) == 1:
            return self._draft(matches[0].key, sheet)
        if matches:
            keys = "、".join(sorted(p.key for p in matches))
            message = f"有多个方案属于这个地区（{keys}），请用 --plan 指定"
        else:
            message = (
                f"数据库中没有地区为“{sheet.name}”的方案；请用 --plan 指定方案"
                "（新方案还需 --title 和 --issued-on），或先运行 duban seed"
            )
        self.problems.append(Problem(sheet.name, None, None, message))
        return None

    def _draft(self, key: str, sheet: Sheet) -> Draft | None:
        if key in self.drafts:
            return self.drafts[key]
        options = self.options
        plan = self.plans.get(key)
        if plan is not None:
            given = [
                name
                for name, value in (
                    ("--region", options.region),
                    ("--title", options.title),
                    ("--issued-on", options.issued_on),
                    ("--issuer", options.issuer),
                )
                if value
            ]
            if given:
                self.notices.append(f"方案 {key} 已存在，{'、'.join(given)} 只在新建方案时使用，已忽略。")
            self.drafts[key] = Draft.of_plan(self.session, plan)
            return self.drafts[key]
        region = options.region or (sheet.name if sheet.kind == "ledger" else None)
        missing = [
            name
            for name, value in (
                ("--region", region),
                ("--title", options.title),
                ("--issued-on", options.issued_on),
            )
            if not value
        ]
        if not PLAN_KEY.match(key) or len(key) > PLAN_KEY_LENGTH:
            missing_text = "方案编号只能由小写字母、数字、汉字和连字符组成（如 anqiu-2023），不超过60个字符"
            self._refuse(sheet, f"数据库中没有方案“{key}”；{missing_text}")
            return None
        if missing:
            self._refuse(
                sheet,
                f"数据库中没有方案“{key}”（duban plans list 列出已有方案）；新建方案还需 {'、'.join(missing)}",
            )
            return None
        assert region is not None and options.title is not None and options.issued_on is not None
        self.drafts[key] = Draft(
            key=key,
            title=options.title,
            issuer=options.issuer or region,
            doc_number=None,
            issued_on=options.issued_on,
            region=region,
        )
        return self.drafts[key]

    def _refuse(self, sheet: Sheet, message: str) -> None:
        if not self._refused:
            self.problems.append(Problem(sheet.name, None, None, message))
            self._refused = True


# ---------------------------------------------------------------- the command


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{text}”不是日期，请写作 YYYY-MM-DD") from None


def add_commands(subparsers: Any) -> None:
    command = subparsers.add_parser(
        "import-xlsx",
        help="read a 台账 workbook (duban export --format xlsx) or a 重点项目清单 into the database",
    )
    command.add_argument("file", help="the .xlsx workbook")
    command.add_argument("--plan", help="plan key: the plan a 重点项目清单 (or a single 台账 sheet) goes to")
    command.add_argument("--region", help="a new plan's county (region)")
    command.add_argument("--title", help="a new plan's title")
    command.add_argument("--issued-on", type=_date, help="a new plan's issue date, YYYY-MM-DD")
    command.add_argument("--issuer", help="a new plan's issuer (default: the region)")
    command.set_defaults(func=cmd_import_xlsx)


def cmd_import_xlsx(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    engine = open_database(settings.database_url, create=True)
    try:
        with Session(engine) as session:
            report = import_xlsx(
                session=session,
                path=path,
                plan_key=args.plan,
                region=args.region,
                title=args.title,
                issued_on=args.issued_on,
                issuer=args.issuer,
                by=run_by(f"duban import-xlsx {path.name}"),
            )
    except NotAWorkbook as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except XlsxImportError as exc:
        if len(exc.problems) == 1:
            print(f"{path.name}：{exc.problems[0]}。未导入任何内容。", file=sys.stderr)
            return 1
        print(f"{path.name} 有 {len(exc.problems)} 处问题，未导入任何内容：", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for notice in report.notices:
        print(f"提示：{notice}")
    summary = report.summary
    print(
        f"已从 {path.name} 的 {len(report.sheets)} 个工作表导入 {report.tasks} 项任务到方案 "
        f"{'、'.join(report.plans)}（新增 {summary.created} 条，更新 {summary.updated} 条）。"
    )
    for line in render_changes(summary):  # dates moved and milestones withdrawn by the sheet
        print(line)
    return 0
