"""Values the database keeps derived from others, compared with their sources: `duban db check [--repair]`.

A derived value either lives where the database keeps it right, or has a check that finds and repairs drift
(STYLE.md). Each milestone's copy of its newest report (Milestone.latest_*) has both: triggers on progressreport keep
it (models/newest_report.py), and this check finds what they cannot prevent: the triggers themselves gone (a SQLite
table rebuilt by a migration drops them), a write to the copy's own columns, a restore of rows without them.

Not here, because nothing holds a source to recompute them from: the planning markers (`planning_inputs.version`
counts the transactions that changed what planning reads, `planning_change` logs what they touched,
`planned_through` records the last day a job planned in full) record events, not copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from duban.migrate import triggers
from models import newest_report


@dataclass(frozen=True)
class Kind:
    """One derived value: what it is, in the units its count is in, and how to count and repair its drift."""

    label: str  # as the CLI prints it, zh_CN
    counted: str  # the count, said with what it counts: "{n} 个节点…"
    count: Callable[[Connection], int]
    repair: Callable[[Connection], int]


@dataclass(frozen=True)
class Drift:
    kind: Kind
    found: int
    repaired: int  # 0 unless repairing


def _missing_triggers(connection: Connection) -> int:
    present = triggers(connection, truncate=True).get("progressreport", frozenset())
    return len(newest_report.expected_triggers(connection.dialect.name) - present)


def _install_triggers(connection: Connection) -> int:
    missing = _missing_triggers(connection)
    if missing:
        newest_report.install(connection)
    return missing


def _drifted_copies(connection: Connection) -> int:
    drifted = newest_report.drifted_milestones(connection.dialect.name)
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM ({drifted}) AS drifted").scalar_one())


def _recompute_copies(connection: Connection) -> int:
    drifted = newest_report.drifted_milestones(connection.dialect.name)
    result = connection.exec_driver_sql(newest_report.recompute(f"milestone.id IN ({drifted})"))
    return int(result.rowcount)


# triggers first: repaired copies stay right only if the triggers that keep them are there
KINDS = (
    Kind("维护最新汇报副本的触发器（progressreport）", "缺失 {n} 个", _missing_triggers, _install_triggers),
    Kind(
        "节点的最新汇报副本（milestone.latest_*）",
        "{n} 个节点与其最新汇报不一致",
        _drifted_copies,
        _recompute_copies,
    ),
)


def check(engine: Engine, *, repair: bool) -> list[Drift]:
    """Every derived value compared with its source; with `repair`, what differs is fixed, all in one transaction."""
    drifts = []
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            # the driver starts no transaction before a SELECT or DDL: begin one, holding the write lock when
            # repairing, so the counts and the repairs read and write one state, and fail or succeed together
            connection.exec_driver_sql("BEGIN IMMEDIATE" if repair else "BEGIN")
        for kind in KINDS:
            found = kind.count(connection)
            drifts.append(Drift(kind, found, kind.repair(connection) if repair and found else 0))
    return drifts
