"""Two `duban run` instances in webhook mode on one PostgreSQL database: one sends, the other takes over when the
first is killed, and no message is sent twice (but for one whose send was in flight at the kill)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from duban.config import ENV_FILE_VARIABLE
from duban.db import make_engine
from duban.migrate import upgrade
from models import Contact, ContactRole, Department, Lease, Notification
from tests.ci import on_ci
from tests.e2e.conftest import Emulator, EmulatorClient

pytestmark = pytest.mark.e2e
SERVER = os.environ.get("DUBAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MESSAGES, CHATS = 120, 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"duban_instances_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        if on_ci():
            raise
        pytest.skip(f"no PostgreSQL server at {SERVER}: {error}")
    yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fill_outbox(url: str) -> None:
    """Contacts of a department with no tasks, so the planner adds nothing of its own."""
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        department = Department(name="测试部门", region="测试县")
        session.add(department)
        session.flush()
        contacts = [
            Contact(
                department_id=department.id,
                name=f"c{n}",
                role=ContactRole.contact,
                telegram_user_id=90_000 + n,
            )
            for n in range(CHATS)
        ]
        session.add_all(contacts)
        session.flush()
        now = dt.datetime.now(dt.UTC)
        # written as rows queued before 0006 became: a text each, one message each (a kind each, so none bundle);
        # added directly, not through enqueue, so the test also runs at night
        session.add_all(
            Notification(
                idempotency_key=f"load:{n}",
                kind=f"load{n}",
                contact_id=contacts[n % CHATS].id,
                payload={"legacy_text": f"msg-{n}"},
                due_at=now,
            )
            for n in range(MESSAGES)
        )
        session.commit()
    engine.dispose()


def _start(emulator: Emulator, url: str, token: str, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_") or k == ENV_FILE_VARIABLE}
    env.update(
        {
            "DUBAN_DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": token,
            "DUBAN_STATE_DIR": str(tmp_path / f"s{n}"),
            "DUBAN_DISPATCH_INTERVAL_SECONDS": "1",
            "DUBAN_LEASE_SECONDS": "3",
            "DUBAN_CLAIM_SECONDS": "3",
            "DUBAN_PLAN_INTERVAL_SECONDS": "3600",
        }
    )
    log = (tmp_path / f"instance{n}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "duban.cli",
            "run",
            "--base-url",
            emulator.url,
            "--emulator",
            "--webhook-url",
            f"http://127.0.0.1:{port}",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _delivered(history: list[dict]) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(
        r["message"].get("text", "")
        for r in history
        if str(r.get("message", {}).get("text", "")).startswith("msg-")
    )


async def test_the_survivor_takes_over_and_nothing_is_sent_twice(
    emulator: Emulator, telegram_user: EmulatorClient, bot_token: str, postgres_url: str, tmp_path: Path
) -> None:
    _fill_outbox(postgres_url)
    instances = [_start(emulator, postgres_url, bot_token, tmp_path, n) for n in (1, 2)]
    try:
        engine = make_engine(postgres_url)
        deadline = time.monotonic() + 60
        while len(_delivered(await telegram_user.history())) < MESSAGES // 4:
            assert time.monotonic() < deadline, "the first instance never started sending"
            time.sleep(0.2)
        with Session(engine) as session:
            holder = session.exec(select(Lease)).one().holder
        holder_pid = int(holder.split(":")[1])
        victim = next(p for p in instances if p.pid == holder_pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        deadline = time.monotonic() + 90
        while len(_delivered(await telegram_user.history())) < MESSAGES:
            assert time.monotonic() < deadline, "the survivor did not finish the outbox"
            time.sleep(0.3)
        delivered = _delivered(await telegram_user.history())
        with Session(engine) as session:
            new_holder = session.exec(select(Lease)).one().holder
        engine.dispose()
    finally:
        for process in instances:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)

    assert new_holder != holder and int(new_holder.split(":")[1]) != holder_pid
    survivor = next(n for n, p in enumerate(instances, 1) if p.pid != holder_pid)
    said = (tmp_path / f"instance{survivor}.log").read_text().splitlines()
    standby, leads = (
        "调度：备用；另一实例为主，它停止后由本实例接替",
        "调度：本实例为主（排定提醒、发送消息、推送周报）",
    )
    assert (
        standby in said and leads in said[said.index(standby) + 1 :]
    )  # said at start, and when it took over
    assert said[-1] == "督办已停止。"
    assert set(delivered) == {f"msg-{n}" for n in range(MESSAGES)}  # nothing lost
    twice = [t for t, count in delivered.items() if count > 1]
    assert len(twice) <= 1, twice  # only a send in flight at the kill may go out once more
