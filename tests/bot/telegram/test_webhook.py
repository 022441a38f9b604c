"""Webhook mode: Telegram's secret header is checked, updates reach the Application, /healthz reports state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import Engine

from bot.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH, derive_secret, webhook_app
from duban.db import AlreadyRunning, make_engine, single_instance_on_sqlite
from tests.bot.conftest import FakeUser, Harness

SECRET = derive_secret("123:abc")


def _client(harness: Harness, health: dict) -> httpx.AsyncClient:  # type: ignore[type-arg]
    app = webhook_app(harness.app, secret=SECRET, health=lambda: health)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


async def test_an_update_with_the_right_secret_is_queued_and_a_wrong_one_refused(harness: Harness) -> None:
    update = {"update_id": 77, "message": harness.message_payload(FakeUser(1), "/help")}
    async with _client(harness, {}) as client:
        refused = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: "wrong"})
        missing = await client.post(WEBHOOK_PATH, json=update)
        accepted = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
        garbage = await client.post(WEBHOOK_PATH, content=b"not json", headers={SECRET_HEADER: SECRET})
    assert (refused.status_code, missing.status_code, accepted.status_code) == (403, 403, 200)
    assert garbage.status_code == 400
    assert harness.app.update_queue.qsize() == 1
    queued = harness.app.update_queue.get_nowait()
    assert queued.update_id == 77 and queued.message.text == "/help"


async def test_healthz_reports_database_and_scheduler(harness: Harness) -> None:
    healthy = {"database": "ok", "scheduler": "running", "leader": True, "instance": "host:1"}
    async with _client(harness, healthy) as client:
        response = await client.get("/healthz", headers={SECRET_HEADER: SECRET})
        anyone = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, healthy)
    assert (anyone.status_code, anyone.json()) == (200, {"status": "ok"})
    async with _client(harness, {**healthy, "database": "error: OperationalError"}) as client:
        assert (await client.get("/healthz")).status_code == 503


def test_a_second_instance_on_one_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    held = single_instance_on_sqlite(engine)
    assert held is not None
    try:
        env = {
            **os.environ,
            "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}",
            "TELEGRAM_BOT_TOKEN": "123456:TEST-not-a-real-token",
            "DUBAN_STATE_DIR": str(tmp_path),
        }
        done = subprocess.run(
            [sys.executable, "-m", "duban.cli", "run"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1
        assert "SQLite 只支持单个实例" in done.stderr
    finally:
        held.close()
    again = single_instance_on_sqlite(engine)
    assert again is not None
    again.close()
    try:
        first = single_instance_on_sqlite(engine)
        single_instance_on_sqlite(engine)
        raise AssertionError("a second lock in one process should also be refused")
    except AlreadyRunning:
        pass
    finally:
        first.close()  # type: ignore[union-attr]
