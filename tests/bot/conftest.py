"""Drive the real Application offline: a request object records every Bot API call and answers validly."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from telegram import Update
from telegram.ext import Application

from bot.telegram.app import build_application, conversation_persistence
from bot.telegram.runtime import Runtime
from duban.config import Settings
from duban.services.invites import create_invite, redeem_invite, resolve_department
from duban.services.outbox import enqueue
from models import Contact, ContactRole, Milestone, Plan, Task
from tests.telegram_fakes import BOT_ID, TOKEN, RecordingRequest

TZ = ZoneInfo("Asia/Shanghai")  # the settings' default


@dataclass
class FakeUser:
    id: int
    language_code: str = "zh-hans"
    first_name: str = "测试"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }


@dataclass
class Harness:
    app: Application  # type: ignore[type-arg]
    request: RecordingRequest
    engine: Engine
    clock_value: list[dt.datetime]
    errors: list[BaseException] = field(default_factory=list)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def set_now(self, moment: dt.datetime) -> None:
        self.clock_value[0] = moment

    async def _process(self, payload: dict[str, Any], chat_id: int) -> list[str]:
        """Feed one update; return what the sender sees: messages to their chat and button popups."""
        before = len(self.request.calls)
        payload["update_id"] = next(self._update_ids)
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        return [
            params.get("text", "")
            for endpoint, params in self.request.calls[before:]
            if params.get("text")
            and (
                endpoint == "answerCallbackQuery"
                or (
                    endpoint in ("sendMessage", "editMessageText")
                    and int(params.get("chat_id", 0)) == chat_id
                )
            )
        ]

    def message_payload(
        self,
        user: FakeUser,
        text: str,
        *,
        reply_to: int | None = None,
        chat_type: str = "private",
        chat_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(self.clock_value[0].timestamp()),
            "chat": {"id": chat_id or user.id, "type": chat_type},
            "from": user.as_dict(),
            "text": text,
            **extra,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": int(self.clock_value[0].timestamp()),
                "chat": {"id": user.id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "督办"},
                "text": "提醒",
            }
        return message

    async def say(self, user: FakeUser, text: str, **kwargs: Any) -> list[str]:
        """The user sends a message; returns the texts the bot showed in answer."""
        message = self.message_payload(user, text, **kwargs)
        return await self._process({"message": message}, message["chat"]["id"])

    async def edit(self, user: FakeUser, text: str) -> list[str]:
        return await self._process({"edited_message": self.message_payload(user, text)}, user.id)

    async def press(self, user: FakeUser, data: str, *, message_id: int = 1) -> list[str]:
        """The user presses an inline button carrying `data`."""
        return await self._process(
            {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": user.as_dict(),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(self.clock_value[0].timestamp()),
                        "chat": {"id": user.id, "type": "private"},
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "督办"},
                        "text": "…",
                    },
                }
            },
            user.id,
        )

    def buttons(self) -> list[str]:
        """callback_data of the inline keyboard in the last message the bot sent or edited."""
        for endpoint, params in reversed(self.request.calls):
            if endpoint in ("sendMessage", "editMessageText"):
                markup = params.get("reply_markup")
                if isinstance(markup, str):
                    markup = json.loads(markup)
                if not markup:
                    return []
                return [b.get("callback_data") for row in markup["inline_keyboard"] for b in row]
        return []

    # --- data set-up through the same domain functions the CLI uses ---
    def join(
        self,
        user: FakeUser,
        department: str,
        role: ContactRole = ContactRole.contact,
        region: str | None = None,
    ) -> Contact:
        with Session(self.engine) as session:
            dept = resolve_department(session=session, name=department, region=region)
            issued = create_invite(
                session=session, department=dept, role=role, now=self.clock_value[0], ttl=dt.timedelta(days=7)
            )
            contact = redeem_invite(
                session=session,
                token=issued.token,
                telegram_user_id=user.id,
                language="zh_CN",
                now=self.clock_value[0],
            )
            session.refresh(contact)
            session.expunge(contact)
            return contact

    def invite_token(self, department: str, role: ContactRole = ContactRole.contact) -> str:
        with Session(self.engine) as session:
            dept = resolve_department(session=session, name=department)
            return create_invite(
                session=session, department=dept, role=role, now=self.clock_value[0], ttl=dt.timedelta(days=7)
            ).token

    def reminder_sent_to(
        self, contact: Contact, plan_key: str, task_ref: str, telegram_message_id: int
    ) -> int:
        """A reminder as the dispatcher records it; returns the milestone id."""
        with Session(self.engine) as session:
            milestone = session.exec(
                select(Milestone).join(Task).join(Plan).where(Plan.key == plan_key, Task.ref == task_ref)
            ).first()
            assert milestone is not None
            row = enqueue(
                session=session,
                key=f"test:{telegram_message_id}",
                kind="reminder",
                contact=contact,
                payload={"days": 30},
                due_at=self.clock_value[0],
                milestone_id=milestone.id,
                instance_due_on=milestone.due_on,
                for_department=True,
                tz=TZ,
            )
            assert row is not None
            row.sent_at = self.clock_value[0]
            row.bundle_id = row.id
            row.platform_message_id = str(telegram_message_id)
            session.add(row)
            session.commit()
            return milestone.id or 0

    def rows(self, model: type, *where: Any) -> list[Any]:
        with Session(self.engine) as session:
            return list(session.exec(select(model).where(*where)).all())


NOW = dt.datetime(2025, 6, 2, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Asia/Shanghai


def build_harness(
    engine: Engine,
    state_dir: Path,
    *,
    request: RecordingRequest | None = None,
    clock_value: list[dt.datetime] | None = None,
) -> Harness:
    """The real Application over a recording request, with an error handler that keeps what went wrong."""
    request = request or RecordingRequest()
    clock_value = clock_value or [NOW]
    clock = clock_value
    runtime = Runtime(engine=engine, settings=Settings(), clock=lambda: clock[0])
    app = build_application(
        runtime,
        token=TOKEN,
        request=request,
        get_updates_request=RecordingRequest(),
        persistence=conversation_persistence(state_dir / "conversations.pickle"),
        rate_limit=False,
    )
    harness = Harness(app=app, request=request, engine=engine, clock_value=clock_value)

    async def record_error(update: object, context: Any) -> None:
        harness.errors.append(context.error)

    app.add_error_handler(record_error)
    return harness


@pytest.fixture
async def harness(seeded: Session, engine: Engine, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = build_harness(engine, tmp_path)
    await harness.app.initialize()
    yield harness
    await harness.app.shutdown()
    assert harness.errors == [], harness.errors
