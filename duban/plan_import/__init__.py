"""Import a county's plan document (.txt or .docx) as a seed file in the seed_data format.

The steps, one module each: `reader` (lines and tables in reading order), `header` (title, issuer,
document number, issue date), `segment` (numbered chapters, groups and items), `attribution` (the
lead and co departments closing an item), `deadlines` (milestones), `tables` (key-project tables,
real or flattened), `assemble` (a SeedPlan plus findings for review), `seedfile` (the YAML),
`agreement` (the measure against the reviewed seed files) and `cli` (the two commands).
"""

from duban.plan_import.assemble import Finding, ImportFailed, ImportResult, import_plan

__all__ = ["Finding", "ImportFailed", "ImportResult", "import_plan"]
