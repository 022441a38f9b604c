"""Migrations: the newest revision matches the models, an upgrade keeps every row, old schemas are refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sqlmodel_select

from duban.cli import main
from duban.db import make_engine
from duban.migrate import create_schema, current_revision, head_revision, upgrade
from duban.seeding import load_seed
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.progress import record_report
from models import (
    ContactRole,
    Department,
    Milestone,
    MilestoneStatus,
    Plan,
    ProgressReport,
    ReportStatus,
    Task,
    newest_report,
)
from tests.conftest import DatabaseTemplates
from tests.newest_copies import copies, sources
from tests.zones import DEFAULT_TZ


def test_the_newest_revision_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), SQLModel.metadata
        )
    assert differences == []
    assert current_revision(engine) == head_revision()
    engine.dispose()


def _fill_with_real_data(engine: Engine) -> None:
    """Seed, a joined contact and a report: rows in the tables that existed at 0001 (the outbox aside)."""
    with Session(engine) as session:
        load_seed(session=session)
        now = dt.datetime(2025, 6, 2, 2, tzinfo=dt.UTC)
        department = resolve_department(session=session, name="区教体局")
        issued = create_invite(
            session=session,
            department=department,
            role=ContactRole.contact,
            now=now,
            ttl=dt.timedelta(days=7),
        )
        contact = redeem_invite(
            session=session, token=issued.token, telegram_user_id=1001, language="zh_CN", now=now
        )
        milestone = session.exec(
            sqlmodel_select(Milestone)
            .join(Task)
            .join(Plan)
            .where(Plan.key == "zibo-zichuan-2023", Task.ref == "（二）")
        ).one()
        record_report(
            session=session,
            contact=contact,
            milestone_id=milestone.id,
            status=ReportStatus.done,
            percent=100,
            note="已完成",
            now=now,
            tz=DEFAULT_TZ,
        )
        session.commit()


def _copy_into_revision(
    source: Engine, target: Engine, revision: str, *, skip: tuple[str, ...] = ()
) -> tuple[MetaData, dict[str, list[tuple[object, ...]]]]:
    """Bring `target` to `revision` and copy `source`'s rows into its tables, column by column (the columns that
    revision has); returns its tables and the rows copied, sorted."""
    upgrade(target, revision)
    old_tables = MetaData()
    old_tables.reflect(target)
    source_tables = MetaData()
    source_tables.reflect(source)
    copied: dict[str, list[tuple[object, ...]]] = {}
    with source.connect() as read, target.begin() as write:
        for table in old_tables.sorted_tables:
            if table.name == "alembic_version" or table.name in skip:
                continue
            columns = [c.name for c in table.columns]
            source_table = source_tables.tables[table.name]
            if not read.execute(select(source_table).limit(1)).first():
                # nothing to copy; and a table whose columns a later revision renamed (grouprobot's webhook_url,
                # 0021) has no such column in today's source to read
                copied[table.name] = []
                continue
            rows = [dict(r._mapping) for r in read.execute(select(*[source_table.c[c] for c in columns]))]
            if rows:
                write.execute(table.insert(), rows)
            copied[table.name] = sorted((tuple(r[c] for c in columns) for r in rows), key=repr)
    return old_tables, copied


def test_upgrading_from_the_previous_revision_keeps_every_row(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the data is made with today's code, then copied into a database at revision 0001, column by column
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    SQLModel.metadata.create_all(source)
    _fill_with_real_data(source)

    old = make_engine(database_url)
    # 0006 reshapes the outbox: see its own test
    old_tables, copied = _copy_into_revision(source, old, "0001", skip=("notification",))
    assert sum(len(rows) for rows in copied.values()) > 500

    upgrade(old)

    assert current_revision(old) == head_revision()
    with old.connect() as connection:
        for name, rows in copied.items():
            after = sorted((tuple(r) for r in connection.execute(select(old_tables.tables[name]))), key=repr)
            assert after == rows, name
    assert "escalationstep" in inspect(old).get_table_names()
    old.dispose()
    source.dispose()


def test_the_upgrade_to_0015_copies_each_milestones_newest_report_onto_it(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Reports stored before 0015 end up on their milestones as today's code puts them there as they arrive."""
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    SQLModel.metadata.create_all(source)
    _fill_with_real_data(source)
    with Session(source) as session:
        first, second = session.exec(sqlmodel_select(Milestone).order_by(col(Milestone.id)).limit(2)).all()
        contact_id = session.exec(sqlmodel_select(ProgressReport.contact_id)).first()
        at = dt.datetime(2025, 6, 3, 2, tzinfo=dt.UTC)
        for milestone, minutes, status, percent in (
            (first, 0, ReportStatus.on_track, 40),
            (first, 0, ReportStatus.at_risk, 45),  # same moment, later id: the newer
            (first, -60, ReportStatus.blocked, 10),  # stored last but made earlier: not the newest
            (second, 5, ReportStatus.blocked, None),
        ):
            session.add(
                ProgressReport(
                    milestone_id=milestone.id or 0,
                    contact_id=contact_id,
                    status=status,
                    percent=percent,
                    reported_at=at + dt.timedelta(minutes=minutes),
                )
            )
            session.commit()
    newest = sqlmodel_select(
        Milestone.id,
        Milestone.latest_report_id,
        Milestone.latest_reported_at,
        Milestone.latest_report_status,
        Milestone.latest_report_percent,
    ).order_by(col(Milestone.id))
    with Session(source) as session:
        expected = session.exec(newest).all()
    assert expected[0][3:] == (ReportStatus.at_risk, 45) and expected[1][3:] == (ReportStatus.blocked, None)
    assert sum(row[1] is not None for row in expected) == 3  # these two and _fill_with_real_data's one

    old = make_engine(database_url)
    _copy_into_revision(source, old, "0014", skip=("planning_inputs",))  # 0010 made its one row
    upgrade(old)

    with Session(old) as session:
        assert session.exec(newest).all() == expected
    old.dispose()
    source.dispose()


def test_seed_refuses_an_out_of_date_schema_and_says_what_to_run(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    upgrade(make_engine(cli_env), "0001")
    assert main(["seed"]) == 1
    assert "请先运行：duban db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["seed"]) == 0


def test_a_brand_new_database_is_made_at_the_newest_schema_by_a_command_that_writes(cli_env: str) -> None:
    assert main(["seed"]) == 0
    assert current_revision(make_engine(cli_env)) == head_revision()
    assert main(["db", "upgrade"]) == 0
    assert main(["status"]) == 0


def test_a_database_import_plan_made_is_read_by_every_other_command(cli_env: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    plan = Path(__file__).resolve().parents[1] / "plan_import" / "fixtures" / "qishan-2024.txt"
    assert main(["import-plan", str(plan), "--load", "--key", "qishan"]) == 0
    assert current_revision(make_engine(cli_env)) == head_revision()
    assert main(["db", "upgrade"]) == 0
    for command in (["status"], ["export"], ["reminders", "--from", "2024-01-01"], ["db", "current"]):
        assert main(command) == 0, command
    assert "qishan" in capsys.readouterr().out


def _unstamped(engine: Engine, revision: str) -> None:
    """A database as an older duban left it: tables of some revision, no alembic_version row."""
    upgrade(engine, revision)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


@pytest.mark.parametrize("revision", ["0002", "head"])
def test_db_upgrade_adopts_an_unstamped_database_and_keeps_its_rows(cli_env: str, revision: str) -> None:
    engine = make_engine(cli_env)
    if revision == "head":
        SQLModel.metadata.create_all(engine)  # what import-plan --load and import-xlsx used to do
    else:
        _unstamped(engine, revision)
    with Session(engine) as session:
        session.add(Department(name="区教体局", region="测试区"))
        session.commit()

    assert main(["status"]) == 1  # refused as out of date, with what to run
    assert main(["db", "upgrade"]) == 0

    assert current_revision(engine) == head_revision()
    with Session(engine) as session:
        assert [d.name for d in session.exec(sqlmodel_select(Department))] == ["区教体局"]
    engine.dispose()


def test_db_upgrade_refuses_tables_that_match_no_revision(cli_env: str, capsys) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(cli_env)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE department (id INTEGER PRIMARY KEY, shoe_size INTEGER)"))
    assert main(["db", "upgrade"]) == 1
    assert capsys.readouterr().err.strip() == (
        "数据库有数据表但没有结构版本，且与任何 duban 版本都不一致；请从备份恢复，或把 DUBAN_DATABASE_URL 指向新数据库"
    )
    engine.dispose()


def test_the_upgrade_to_0016_lets_a_milestone_be_withdrawn_and_keeps_what_points_at_it(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """0016 adds `withdrawn` to PostgreSQL's enum type and rebuilds SQLite's milestone table, which reports,
    audit rows and the outbox point at: every row and id survives, and a milestone can then be withdrawn."""
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    SQLModel.metadata.create_all(source)
    _fill_with_real_data(source)
    old = make_engine(database_url)
    # 0010 made the counter's one row; the change log's copied ids would leave PostgreSQL's sequence behind them
    _, copied = _copy_into_revision(source, old, "0015", skip=("planning_inputs", "planning_change"))
    upgrade(old)
    assert current_revision(old) == head_revision()

    with Session(old) as session:
        report = session.exec(sqlmodel_select(ProgressReport)).one()
        milestone = session.get(Milestone, report.milestone_id)
        assert milestone is not None and len(session.exec(sqlmodel_select(Milestone)).all()) == len(
            copied["milestone"]
        )
        milestone.status = MilestoneStatus.withdrawn
        milestone.withdrawn_at = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        milestone.withdrawn_by = "duban seed (test)"
        session.add(milestone)
        session.commit()
        milestone_id = milestone.id
    with Session(old) as session:
        again = session.get(Milestone, milestone_id)
        assert again is not None
        assert (again.status, again.withdrawn_by) == (MilestoneStatus.withdrawn, "duban seed (test)")
        assert session.exec(sqlmodel_select(ProgressReport.milestone_id)).all() == [milestone_id]
    if old.dialect.name == "sqlite":  # the table was rebuilt with foreign keys off; they are on again
        with old.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    old.dispose()
    source.dispose()


def _trigger_definitions(engine: Engine) -> dict[str, str]:
    """Every trigger the schema made (and PostgreSQL's function behind them), as the database prints them."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = connection.execute(
                text(
                    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                    "UNION ALL SELECT proname, prosrc FROM pg_proc "
                    "WHERE pronamespace = current_schema()::regnamespace AND prokind = 'f'"
                )
            )
        return {name: definition for name, definition in rows}


def test_create_schema_and_the_migrations_give_the_same_triggers(
    database_templates: DatabaseTemplates, tmp_path: Path
) -> None:
    """A new database (create_all, stamped) and an upgraded one keep the copy of the newest report alike."""
    made, migrated = (database_templates.fresh(tmp_path / name, None) for name in ("made", "migrated"))
    engines = [make_engine(made), make_engine(migrated)]
    create_schema(engines[0])
    upgrade(engines[1])
    made_triggers, migrated_triggers = (_trigger_definitions(engine) for engine in engines)
    assert made_triggers == migrated_triggers
    expected = set(newest_report.expected_triggers(engines[0].dialect.name))
    if engines[0].dialect.name != "sqlite":
        expected.add(newest_report.POSTGRESQL_FUNCTION)
    assert set(made_triggers) == expected
    for engine in engines:
        engine.dispose()
    for url in (made, migrated):
        database_templates.drop(url)


def test_the_upgrade_to_0020_recomputes_every_copy_and_installs_the_triggers(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    SQLModel.metadata.create_all(source)
    _fill_with_real_data(source)
    old = make_engine(database_url)
    # explicit ids below: the copied ids leave PostgreSQL's sequence behind them
    _copy_into_revision(source, old, "0018", skip=("planning_inputs", "planning_change"))
    with Session(old) as session:
        milestones = session.exec(sqlmodel_select(Milestone.id).order_by(col(Milestone.id))).all()
        reported = session.exec(sqlmodel_select(ProgressReport.milestone_id)).one()
        contact_id = session.exec(sqlmodel_select(ProgressReport.contact_id)).one()
        others = [m for m in milestones if m != reported][:2]
        # what 0018's events left behind: a bulk-inserted report never copied, a copy edited by hand, a copy of a
        # report deleted around the ORM
        session.execute(
            text(
                "INSERT INTO progressreport (id, milestone_id, contact_id, status, percent, note, reported_at) "
                "VALUES ((SELECT max(id) + 1 FROM progressreport), :m, :c, 'blocked', 5, '', :at)"
            ),
            {"m": others[0], "c": contact_id, "at": dt.datetime(2025, 7, 1, 3)},
        )
        session.execute(text("UPDATE milestone SET latest_report_percent = 1 WHERE id = :m"), {"m": reported})
        session.execute(
            text("UPDATE milestone SET latest_report_id = 4242, latest_report_status = 'done' WHERE id = :m"),
            {"m": others[1]},
        )
        session.commit()
        assert copies(session) != sources(session)

    upgrade(old)

    assert current_revision(old) == head_revision()
    with Session(old) as session:
        assert copies(session) == sources(session)
        assert sum(copy[1] is not None for copy in copies(session)) == 2
        # and from now on the database keeps them: a report written by raw SQL is copied at once
        session.execute(
            text(
                "INSERT INTO progressreport (id, milestone_id, contact_id, status, percent, note, reported_at) "
                "VALUES ((SELECT max(id) + 1 FROM progressreport), :m, :c, 'on_track', 55, '', :at)"
            ),
            {"m": others[1], "c": contact_id, "at": dt.datetime(2025, 7, 2, 3)},
        )
        session.commit()
        assert copies(session) == sources(session)
        assert [c[4] for c in copies(session) if c[0] == others[1]] == [55]
    old.dispose()
    source.dispose()


def test_db_upgrade_gives_an_unstamped_0018_database_the_triggers(cli_env: str) -> None:
    """0020 adds triggers alone; a database at 0018's tables without a stamp is taken for 0018, not 0020."""
    engine = make_engine(cli_env)
    _unstamped(engine, "0018")
    assert main(["db", "upgrade"]) == 0
    assert current_revision(engine) == head_revision()
    assert set(_trigger_definitions(engine)) >= newest_report.expected_triggers(engine.dialect.name)
    engine.dispose()
