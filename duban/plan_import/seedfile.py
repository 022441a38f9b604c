"""Write an imported plan as a seed file that reads like the reviewed ones in seed_data/.

Field order follows the schema, multi-line texts (a table row's "列名：内容" lines) are written as
literal blocks, and the findings go at the end as YAML comments: the file still validates with
`python -m seed_data.check`, and the reviewer reads what is open right where the data is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from duban.plan_import.assemble import Finding, ImportResult

TASK_FIELDS = ("ref", "section", "title", "text", "lead", "co", "milestones")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def plan_data(result: ImportResult) -> dict[str, Any]:
    data = result.plan.model_dump(mode="python")
    tasks = []
    for task in data["tasks"]:
        ordered = {name: task[name] for name in TASK_FIELDS}
        ordered["section"] = str(ordered["section"])
        ordered["milestones"] = [
            {"due_on": m["due_on"], "target": m["target"], "recurrence": str(m["recurrence"])}
            | ({"until": m["until"]} if m["until"] else {})
            for m in task["milestones"]
        ]
        tasks.append(ordered)
    data["tasks"] = tasks
    return data


def render_seed(result: ImportResult) -> str:
    text = yaml.dump(plan_data(result), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10**6)
    return text + render_findings_as_comments(result.findings)


def render_findings_as_comments(findings: list[Finding]) -> str:
    if not findings:
        return "# 导入时没有需要核对的内容。\n"
    lines = [f"# 待核对（导入时未能确定，共 {len(findings)} 条）："]
    lines += [f"# - {finding}" for finding in findings]
    return "\n".join(lines) + "\n"


def write_seed(result: ImportResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_seed(result), encoding="utf-8")
