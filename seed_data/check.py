"""Validate seed files without a database: `python -m seed_data.check [FILE...]`."""

import sys
from collections import Counter
from pathlib import Path

import yaml
from pydantic import ValidationError

from seed_data import seed_files
from seed_data.schema import SeedPlan


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or seed_files()
    failed = False
    for path in paths:
        try:
            plan = SeedPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValidationError, yaml.YAMLError) as exc:
            print(f"{path.name}: INVALID\n{exc}")
            failed = True
            continue
        sections = Counter(t.section.value for t in plan.tasks)
        milestones = sum(len(t.milestones) for t in plan.tasks)
        years = Counter(m.due_on.year for t in plan.tasks for m in t.milestones if m.recurrence == "none")
        recurring = Counter(
            m.recurrence.value for t in plan.tasks for m in t.milestones if m.recurrence != "none"
        )
        print(
            f"{path.name}: {len(plan.tasks)} tasks {dict(sections)}, {milestones} milestones, "
            f"dated by year {dict(sorted(years.items()))}, recurring {dict(recurring)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
