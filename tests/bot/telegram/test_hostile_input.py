"""Hostile input: random Updates pushed through the real Application.

Every example is a short sequence of updates (messages, commands, edits, button presses, posts in groups and
channels) from a joined contact, a joined coordinator or a stranger, made of hostile text: HTML and Markdown
fragments, 10,000-character strings, emoji with joiners, right-to-left text, NUL and other control
characters, Chinese percentages, forged and stale callback data. After every update:

1. no exception reached the Application's error handlers and no apology was sent;
2. everything the bot sent parses as Telegram HTML, fits Telegram's limits, and carries short callback data;
3. a stranger wrote nothing to the database and was told nothing but the polite refusals;
4. a refusal changed nothing, and progress reports only appear together with their confirmation;
and no text bound for the database contains NUL, which PostgreSQL (the production database) refuses.

The examples are drawn from a fixed seed (derandomize), so CI tries the same ones every run and a failure
reproduces; DUBAN_HYPOTHESIS_EXAMPLES=5000 pytest tests/bot/telegram/test_hostile_input.py makes a larger random run.

The Application is built once per test function (as the `harness` fixture builds it) and every example
runs on one event loop, so state carries over between examples the way it does in a live bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, inspect
from sqlalchemy import text as sql_text
from sqlmodel import Session
from telegram import Update

from bot.core.vocabulary import TELEGRAM
from bot.i18n import gettext_for
from bot.telegram import views
from bot.telegram.pages import paginate
from models import ContactRole, Notification, ProgressReport
from tests.bot.conftest import NOW, FakeUser, Harness, build_harness
from tests.telegram_fakes import BOT_ID

BOT_USERNAME = "duban_test_bot"
CONTACT = FakeUser(1001)
MONTHLY_CONTACT = FakeUser(1003, language_code="en")
COORDINATOR = FakeUser(2002)
JOINED_IDS = {CONTACT.id, MONTHLY_CONTACT.id, COORDINATOR.id}
REMINDER_MESSAGE_IDS = (777, 778, 901)

LANGUAGES = ("zh_CN", "en")


def _texts(render: Any) -> set[str]:
    return {render(gettext_for(language)) for language in LANGUAGES}


APOLOGIES = _texts(views.something_went_wrong)
NOT_JOINED = _texts(views.not_joined)
# what a stranger may be told: the not-joined text, a dead invitation, a dead button, "talk to me in private"
STRANGER_MAY_SEE = (
    NOT_JOINED
    | _texts(views.invite_invalid)
    | _texts(views.stale_button)
    | _texts(lambda _: views.invalid_input(_, "group", TELEGRAM))
)
_REASONS = ("too_long", "percent_range", "empty", "already_done", "withdrawn", "already_decided", "reason_required",
            "usage_task", "usage_find", "usage_approve", "usage_dept", "usage_invite", "not_a_reply_to_reminder",
            "group", "note_empty", "snooze_days", "usage_snooze", "percent_ambiguous", "undo_too_late",
            "reason_too_long", "usage_revoke", "revoke_self", "already_inactive", "reply_to_bundle", "done_unclear")  # fmt: skip
# answers that say "no": when a joined user hears only these, nothing may have been written either
REFUSALS = (
    STRANGER_MAY_SEE
    | _texts(views.not_allowed)
    | _texts(views.not_found)
    | _texts(lambda _: views.unknown_command(_, TELEGRAM))
    | {
        text
        for reason in _REASONS
        for text in _texts(lambda _, reason=reason: views.invalid_input(_, reason, TELEGRAM))
    }
)
CONFIRMATION_PREFIXES = tuple(
    gettext_for(language)("Saved for {ref} {title}:").split("{")[0] for language in LANGUAGES
)
UNDONE_PREFIXES = tuple(
    gettext_for(language)(
        "Report withdrawn ({status}, {percent}); nothing of it is kept. Send a new one when ready."
    ).split("{")[0]
    for language in LANGUAGES
)

# a fixed seed in CI; a larger random run on demand
RANDOM_EXAMPLES = int(os.environ.get("DUBAN_HYPOTHESIS_EXAMPLES", "0"))


def hostile_settings(examples: int) -> settings:
    return settings(
        max_examples=RANDOM_EXAMPLES or examples,
        derandomize=not RANDOM_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---------------------------------------------------------------- Telegram HTML


class TelegramHTMLError(AssertionError):
    pass


_ALLOWED_TAGS = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "span": {"class"},
    "tg-spoiler": set(),
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
# every & must open one of these; Telegram knows only the four named entities and numeric ones
_AMPERSAND = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


class _TelegramHTML(HTMLParser):
    """Parses as Telegram does: only its tags, balanced and nested, and nothing bare in the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.visible = 0  # characters left once tags are gone and entities are one character each

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise TelegramHTMLError(f"unsupported tag <{tag}>")
        names = {name for name, _value in attrs}
        if not names <= _ALLOWED_TAGS[tag]:
            raise TelegramHTMLError(f"unsupported attributes {names} on <{tag}>")
        if tag == "a" and not dict(attrs).get("href"):
            raise TelegramHTMLError("<a> without href")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            raise TelegramHTMLError("<span> that is not a spoiler")
        if tag == "tg-emoji" and "emoji-id" not in names:
            raise TelegramHTMLError("<tg-emoji> without emoji-id")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise TelegramHTMLError(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise TelegramHTMLError(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for bare in "<>&":
            if bare in data:
                raise TelegramHTMLError(f"unescaped {bare!r} in {data[:80]!r}")
        self.visible += len(data)

    def handle_entityref(self, name: str) -> None:
        self.visible += 1  # _AMPERSAND already allowed only the four names

    def handle_charref(self, name: str) -> None:
        self.visible += 1

    def handle_comment(self, data: str) -> None:
        raise TelegramHTMLError("comment")

    def handle_decl(self, decl: str) -> None:
        raise TelegramHTMLError("declaration")

    def handle_pi(self, data: str) -> None:
        raise TelegramHTMLError("processing instruction")

    def unknown_decl(self, data: str) -> None:
        raise TelegramHTMLError("declaration")


def telegram_html_length(text: str) -> int:
    """Validate `text` as Telegram HTML; return its length once parsed (what Telegram's limits count)."""
    for match in re.finditer("&", text):
        if not _AMPERSAND.match(text, match.start()):
            raise TelegramHTMLError(f"bare & in {text[max(0, match.start() - 20) : match.start() + 20]!r}")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.rawdata:  # html.parser keeps an incomplete construct such as "<b" waiting for more input
        raise TelegramHTMLError(f"incomplete markup {parser.rawdata[:80]!r}")
    if parser.stack:
        raise TelegramHTMLError(f"unclosed {parser.stack}")
    return parser.visible


def test_the_validator_knows_telegram_html() -> None:
    assert telegram_html_length('<b>a &amp; b</b> &lt;3 &#128512; <a href="x">y</a>') == 12
    for bad in ("<b>", "</i>", "<b><i></b></i>", "a & b", "a < b", "5 > 3", "<p>x</p>", "&nbsp;", "<br/>"):
        with pytest.raises(TelegramHTMLError):
            telegram_html_length(bad)


def check_outgoing(endpoint: str, params: dict[str, Any]) -> None:
    """What Telegram would refuse: broken HTML, overlong text, callback data over 64 bytes."""
    if endpoint in ("sendMessage", "editMessageText"):
        text = params.get("text", "")
        parse_mode = params.get("parse_mode")
        length = telegram_html_length(text) if parse_mode == "HTML" else len(text)
        assert parse_mode in (None, "HTML"), parse_mode
        assert 1 <= length <= 4096, (endpoint, length, text[:200])
    if endpoint == "sendPhoto" and params.get("caption"):
        caption = params["caption"]
        length = telegram_html_length(caption) if params.get("parse_mode") == "HTML" else len(caption)
        assert length <= 1024
    if endpoint == "answerCallbackQuery":
        assert len(params.get("text") or "") <= 200, params
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            assert button["text"], button
            data = button.get("callback_data")
            if data is not None:
                assert 1 <= len(data.encode()) <= 64, button


# ---------------------------------------------------------------- the world


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk_strings(item)


@dataclass
class World:
    harness: Harness
    loop: asyncio.AbstractEventLoop
    tables: list[str]
    writes: list[str] = field(default_factory=list)
    nul_bound: list[str] = field(default_factory=list)
    message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000))

    def __repr__(self) -> str:  # keeps hypothesis' failure reports to the actions
        return "World(...)"

    def counts(self) -> dict[str, int]:
        with self.harness.engine.connect() as connection:
            return {
                table: connection.execute(sql_text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in self.tables
            }


@pytest.fixture
def world(seeded: Session, engine: Engine, tmp_path: Path) -> Iterator[World]:
    harness = build_harness(engine, tmp_path)
    app = harness.app
    contact = harness.join(CONTACT, "区教体局")
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（二）", telegram_message_id=777)
    harness.reminder_sent_to(contact, "zibo-zichuan-2023", "（三）", telegram_message_id=778)
    monthly = harness.join(MONTHLY_CONTACT, "教育科")
    harness.reminder_sent_to(monthly, "pengshui-2023", "（一）1", telegram_message_id=901)
    harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)

    world = World(harness=harness, loop=asyncio.new_event_loop(), tables=inspect(engine).get_table_names())

    @event.listens_for(engine, "before_cursor_execute")
    def watch(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        # numbering the department's open milestones for this person (a stale page button re-reads its list)
        # is no change a user can see: the next 任务 list gives the same milestones the same numbers
        numbering = statement.lstrip().startswith("INSERT INTO listedmilestone")
        if (
            statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE")
            and not numbering
        ):
            world.writes.append(statement)
        if any("\x00" in value for value in _walk_strings(parameters)):
            world.nul_bound.append(statement)

    world.loop.run_until_complete(app.initialize())
    yield world
    world.loop.run_until_complete(app.shutdown())
    world.loop.close()
    event.remove(engine, "before_cursor_execute", watch)
    everything_renders(engine, tmp_path)


def everything_renders(engine: Engine, folder: Path) -> None:
    """What the examples stored (notes, reasons, names) goes out in every document and page: the 台账 workbook,
    each plan's 通报 and every page of the dashboard render, and a coordinator sees them."""
    from openpyxl import load_workbook
    from sqlmodel import select
    from starlette.testclient import TestClient

    from duban import tongbao
    from duban.ledger import export_xlsx
    from models import Contact, Milestone, Plan, Task
    from tests.web.conftest import settings as web_settings
    from tests.web.conftest import sign_in
    from web.app import build_web_app

    today = NOW.date()
    with Session(engine) as session:
        export_xlsx(session=session, output=folder / "台账.xlsx", today=today, tz=web_settings().tz)
        assert load_workbook(folder / "台账.xlsx").sheetnames
        plans = session.exec(select(Plan)).all()
        for plan in plans:
            tongbao.write(
                tongbao.gather(session=session, plans=[plan], today=today), folder / f"{plan.key}.docx"
            )
        coordinator = session.exec(select(Contact).where(Contact.role == ContactRole.coordinator)).first()
        assert coordinator is not None
        with TestClient(build_web_app(engine, web_settings(), lambda: NOW)) as client:
            sign_in(client, session, coordinator)
            pages = ["/", "/overdue", "/silent", "/pending", "/ledger.xlsx"]
            pages += [f"/plans/{plan.id}" for plan in plans if plan.region == "淄博市淄川区"]
            pages += [f"/plans/{plan.id}/tongbao.docx" for plan in plans if plan.region == "淄博市淄川区"]
            reported = set(
                session.exec(
                    select(ProgressReport.milestone_id)
                    .join(Milestone, Milestone.id == ProgressReport.milestone_id)  # type: ignore[arg-type]
                    .join(Task, Task.id == Milestone.task_id)  # type: ignore[arg-type]
                    .join(Plan, Plan.id == Task.plan_id)  # type: ignore[arg-type]
                    .where(Plan.region == "淄博市淄川区")
                ).all()
            )
            pages += [f"/milestones/{milestone_id}" for milestone_id in sorted(reported)]
            for path in pages:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.text[:300])


def notification_ids(world: World) -> list[int]:
    return [n.id or 0 for n in world.harness.rows(Notification)]


# ---------------------------------------------------------------- strategies

HTML_BITS = ["<b>", "</b>", "<i>", "</i>", "&", "&amp;", "&lt;", "&gt", "&nbsp;", "<", ">", '"', "'",
             "<a href=x>", "</a>", '<a href="javascript:alert(1)">', "<script>alert(1)</script>", "<br/>",
             "<!--", "<tg-spoiler>", "<pre><code>", "&#0;", "&#x110000;"]  # fmt: skip
MARKDOWN_BITS = ["*", "_", "[", "]", "(", ")", "~", "`", "```", "||", "\\", "#", "+", "-", "=", "|", "{",
                 "}", ".", "!", "*bold*", "_it_", "[x](http://e.com)", "`code`"]  # fmt: skip
CHINESE_BITS = ["完成150%", "六成", "-5%", "已完成", "完成60%", "100%", "101%", "0%", "99.5%", "１００％",
                "百分之五十", "完成了", "受阻", "滞后", "风险", "已办结", "区教体局", "名师", "％", "%%",
                "（二）", "、", "，", "。"]  # fmt: skip
EMOJI_BITS = ["😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇨🇳", "\u200d", "\ufe0f", "🧑🏿‍💻", "❤️"]
RTL_BITS = ["مرحبا بالعالم", "שלום עולם", "\u202e", "\u202d", "\u200f", "\u061c", "١٢", "۵۰٪"]
CONTROL_BITS = ["\x00", "\x01", "\x07", "\x1b[31m", "\x7f", "\r", "\n", "\t", "\u2028", "\ufeff", "\x85"]
NUMBER_BITS = ["0", "1", "2", "3", "7", "99", "007", "-1", "#1", "#", "²", "١", "１", "1e9", "3.5",
               "999999999", "9999999999", "99999999999999999999999999", str(2**63), str(2**64)]  # fmt: skip
BITS = HTML_BITS + MARKDOWN_BITS + CHINESE_BITS + EMOJI_BITS + RTL_BITS + CONTROL_BITS + NUMBER_BITS

fragments = st.one_of(st.sampled_from(BITS), st.text(max_size=12))
short_text = st.lists(fragments, max_size=10).map("".join)
long_text = st.builds(
    lambda piece, length: (piece * length)[:length],
    st.sampled_from(["&", "<b>", "完", "😀", "a", "مر", "\x00", "完成60%", "👨‍👩‍👧‍👦", "&amp;"]),
    st.sampled_from([1999, 2000, 2001, 4096, 4097, 10_000]),
)
message_text = st.one_of(short_text, short_text, long_text)
word = st.one_of(st.sampled_from(BITS), st.text(min_size=1, max_size=8)).map(
    lambda w: "".join(w.split()) or "x"
)
arguments = st.lists(st.one_of(word, long_text.map(lambda t: "".join(t.split()) or "x")), max_size=4)

COMMANDS = ["start", "help", "tasks", "task", "find", "status", "overdue", "silent", "dept", "digest",
            "pending", "approve", "reject", "invite", "snooze", "report", "skip", "cancel", "contacts"]  # fmt: skip
# /revoke is played in examples only: a random one would end the joined users' access for the rest of the run
command_name = st.one_of(
    st.sampled_from(COMMANDS),
    st.sampled_from(COMMANDS).map(lambda c: f"{c}@{BOT_USERNAME}"),
    st.sampled_from(COMMANDS).map(lambda c: f"{c}@other_bot"),
    st.from_regex(r"[a-z_]{1,20}", fullmatch=True),
)
start_token = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), word, st.just("a" * 200), st.just("\x00")
)
command_text = st.one_of(
    st.builds(lambda name, args: " ".join([f"/{name}", *args]), command_name, arguments),
    st.builds(lambda token: f"/start {token}", start_token),
    st.builds(lambda name, rest: f"/{name}{rest}", command_name, short_text),
)


def _fit_64(data: str) -> str:
    """Telegram caps callback data at 64 bytes; cut without splitting a character."""
    return data.encode()[:64].decode(errors="ignore")


callback_id = st.one_of(
    st.integers(0, 12).map(str),  # the ids that exist: reminders, milestones, pages
    st.sampled_from(NUMBER_BITS),
    st.integers(10**9, 10**57).map(str),
    st.text(max_size=10),
)
with_id = st.builds(
    lambda prefix, value: prefix + value,
    st.sampled_from(["rp:m:", "rm:ack:", "rm:rep:", "rm:nc:", "ud:"]),
    callback_id,
)
callback_data = st.one_of(
    with_id,
    with_id,
    st.builds(
        lambda value, days: f"rm:snz:{value}:{days}",
        callback_id,
        st.one_of(st.sampled_from("137"), callback_id),
    ),
    st.builds(
        lambda value: f"rp:s:{value}",
        st.one_of(st.sampled_from(["on_track", "at_risk", "blocked", "done"]), callback_id),
    ),  # fmt: skip
    st.builds(
        lambda value: f"rp:p:{value}", st.one_of(st.sampled_from(["-", "0", "50", "100"]), callback_id)
    ),
    st.sampled_from(["rp:x", "rp:", "rm:", "rm:ack", "rm:snz:1", "noop", "pg:", "pg::", ":", ""]),
    st.builds(
        lambda view, page, arg: f"pg:{view}:{page}:{arg}",
        st.one_of(st.sampled_from(["tasks", "status", "overdue", "silent", "digest", "dept", "task"]), word),
        callback_id,
        st.one_of(st.just(""), word),
    ),  # fmt: skip
    st.binary(max_size=64).map(lambda b: b.decode("utf-8", errors="replace")),
).map(_fit_64)

stranger = st.builds(
    FakeUser,
    id=st.integers(10_000, 2**52).filter(lambda i: i not in JOINED_IDS),
    language_code=st.sampled_from(["zh-hans", "en", "ar", "he", "", "xx-YY"]),
    first_name=st.one_of(st.just("路人"), short_text.filter(bool)),
)
joined = st.sampled_from([CONTACT, CONTACT, MONTHLY_CONTACT, COORDINATOR])
user = st.one_of(joined, joined, stranger)  # joined users get further into the bot, so they come more often
chat = st.one_of(
    st.just(("private", None)),
    st.just(("private", None)),
    st.just(("private", None)),
    st.tuples(
        st.sampled_from(["group", "supergroup", "channel", "secret", ""]),
        st.integers(-(10**13), -1),
    ),
)
reply_to = st.one_of(
    st.none(),
    st.sampled_from(REMINDER_MESSAGE_IDS),
    st.sampled_from(REMINDER_MESSAGE_IDS),
    st.integers(1, 2**31 - 1),
    st.integers(1000, 1100),
)


@dataclass(frozen=True)
class Say:
    user: FakeUser
    text: str
    chat: tuple[str, int | None] = ("private", None)
    reply_to: int | None = None
    edited: bool = False
    channel_post: bool = False


@dataclass(frozen=True)
class Press:
    user: FakeUser
    data: str
    message_id: int = 1


say = st.builds(
    Say,
    user=user,
    text=st.one_of(message_text, command_text),
    chat=chat,
    reply_to=reply_to,
    edited=st.sampled_from([False, False, False, True]),
    channel_post=st.booleans(),
)
press = st.builds(Press, user=user, data=callback_data, message_id=st.sampled_from([1, 777, 901, 1000]))
OWN_REMINDER = "rm:rep:own"  # replaced by the button under the contact's first reminder
# a valid step of the report flow now and then, so the forged steps meet a conversation in every state
report_steps = st.sampled_from(
    [
        Press(CONTACT, OWN_REMINDER),
        Press(CONTACT, "rp:s:done"),
        Press(CONTACT, "rp:p:60"),
        Say(CONTACT, "/report"),
        Say(CONTACT, "/skip"),
    ]
)
action = st.one_of(say, say, press, report_steps)


# ---------------------------------------------------------------- driving


_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def payload_for(world: World, act: Say) -> dict[str, Any]:
    """The update Telegram would deliver: entities as its parser marks them (offsets in UTF-16)."""
    harness = world.harness
    chat_type, chat_id = act.chat
    message = harness.message_payload(
        act.user, act.text, reply_to=act.reply_to, chat_type=chat_type, chat_id=chat_id
    )
    message["message_id"] = next(world.message_ids)
    entities = []
    if match := _COMMAND.match(act.text):
        entities.append({"type": "bot_command", "offset": 0, "length": _utf16(match.group())})
    at = act.text.find(f"@{BOT_USERNAME}")
    if at > 0 and not act.text[:at].startswith("/"):
        entities.append({"type": "mention", "offset": _utf16(act.text[:at]), "length": len(BOT_USERNAME) + 1})
    if entities:
        message["entities"] = entities
    else:
        message.pop("entities", None)
    if chat_type == "channel" and act.channel_post:
        message.pop("from")
        message["sender_chat"] = {"id": chat_id, "type": "channel", "title": "频道"}
        return {"edited_channel_post" if act.edited else "channel_post": message}
    return {"edited_message" if act.edited else "message": message}


def press_payload(world: World, act: Press) -> dict[str, Any]:
    return {
        "callback_query": {
            "id": str(next(world.message_ids)),
            "from": act.user.as_dict(),
            "chat_instance": "ci",
            "data": act.data,
            "message": {
                "message_id": act.message_id,
                "date": int(NOW.timestamp()),
                "chat": {"id": act.user.id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "督办"},
                "text": "…",
            },
        }
    }


def run_step(world: World, act: Say | Press) -> None:
    harness = world.harness
    if isinstance(act, Press) and act.data == OWN_REMINDER:
        act = Press(act.user, f"rm:rep:{notification_ids(world)[0]}", act.message_id)
    payload = payload_for(world, act) if isinstance(act, Say) else press_payload(world, act)
    payload["update_id"] = next(harness._update_ids)
    is_stranger = act.user.id not in JOINED_IDS
    before_calls = len(harness.request.calls)
    before_reports = len(harness.rows(ProgressReport))
    before_counts = world.counts() if is_stranger else {}
    # a failing example must not poison the next ones while hypothesis shrinks it
    harness.errors.clear()
    world.writes.clear()
    world.nul_bound.clear()

    world.loop.run_until_complete(harness.app.process_update(Update.de_json(payload, harness.app.bot)))

    calls = harness.request.calls[before_calls:]
    # 1. nothing crashed
    assert harness.errors == [], harness.errors
    shown = [params.get("text", "") for endpoint, params in calls if params.get("text")]
    assert not APOLOGIES & set(shown), shown
    # 2. Telegram would accept everything we sent
    for endpoint, params in calls:
        check_outgoing(endpoint, params)
    # PostgreSQL refuses NUL in text, in a stored value as in a query parameter
    assert world.nul_bound == [], world.nul_bound
    # 3. strangers change nothing and hear only the polite refusals
    if is_stranger:
        assert world.writes == [], world.writes
        assert world.counts() == before_counts
        assert set(shown) <= STRANGER_MAY_SEE, shown
    # 4. a refusal changed nothing, and a report is stored only when its confirmation is sent
    if shown and set(shown) <= REFUSALS:
        assert world.writes == [], (shown, world.writes)
    confirmations = [text for text in shown if text.startswith(CONFIRMATION_PREFIXES)]
    undone = [text for text in shown if text.startswith(UNDONE_PREFIXES)]
    assert len(harness.rows(ProgressReport)) - before_reports == len(confirmations) - len(undone), shown


# ---------------------------------------------------------------- the properties


@hostile_settings(300)
@given(actions=st.lists(action, min_size=1, max_size=4))
@example(actions=[Say(CONTACT, "完成150%", reply_to=777), Say(CONTACT, "六成 <b>&</b>", reply_to=777)])
@example(actions=[Say(CONTACT, "&" * 2000, reply_to=777), Say(CONTACT, "<i>" * 5000, reply_to=778)])
@example(
    actions=[Say(COORDINATOR, "/find 完成150%"), Say(COORDINATOR, "/dept <b>"), Say(COORDINATOR, "/find %_")]
)
@example(
    actions=[
        Say(CONTACT, "已完成", reply_to=777),
        Say(COORDINATOR, "/reject 1 理由\x00"),
        Say(CONTACT, "/find \x00"),
    ]
)
@example(actions=[Say(COORDINATOR, "/status 区教体局\x00"), Say(COORDINATOR, "/invite 区\x00教体局 contact")])
@example(actions=[Say(FakeUser(5555), "/start " + "x" * 43), Say(FakeUser(5555), "/tasks@duban_test_bot")])
@example(actions=[Say(CONTACT, "已完成\x00，验收通过", reply_to=777), Say(COORDINATOR, "/approve 1")])
@example(actions=[Say(CONTACT, "原计划100%，目前已完成60%", reply_to=777), Press(CONTACT, "ud:1")])
@example(
    actions=[Say(COORDINATOR, "/contacts"), Say(COORDINATOR, "/revoke \x00"), Say(COORDINATOR, "/revoke 3")]
)
@example(actions=[Say(COORDINATOR, "/reject 1 " + "缺" * 2000), Say(CONTACT, "-5%", reply_to=778)])
@example(actions=[Say(COORDINATOR, "/revoke 1"), Say(CONTACT, "/tasks"), Press(CONTACT, "rm:ack:1")])
def test_hostile_updates_break_nothing(world: World, actions: list[Say | Press]) -> None:
    for act in actions:
        run_step(world, act)


@hostile_settings(300)
@given(actions=st.lists(st.one_of(press, report_steps), min_size=1, max_size=5))
@example(actions=[Press(CONTACT, "rm:ack:" + "9" * 57)])
@example(actions=[Press(CONTACT, "rm:snz:1:²"), Press(CONTACT, "rp:m:²"), Press(COORDINATOR, "pg:status:²:")])
def test_forged_and_stale_buttons_break_nothing(world: World, actions: list[Press | Say]) -> None:
    for act in actions:
        run_step(world, act)


@hostile_settings(200)
@given(
    who=st.sampled_from([CONTACT, COORDINATOR]),
    command=st.sampled_from(COMMANDS),
    args=arguments,
)
@example(who=COORDINATOR, command="snooze", args=["#1", "²", "reason"])
@example(who=COORDINATOR, command="snooze", args=["#" + "9" * 30, "3", "reason"])
@example(who=COORDINATOR, command="reject", args=["1", "\x00"])
def test_commands_with_hostile_arguments_break_nothing(
    world: World, who: FakeUser, command: str, args: list[str]
) -> None:
    run_step(world, Say(who, " ".join([f"/{command}", *args])))


@hostile_settings(200)
@given(
    who=st.sampled_from([CONTACT, MONTHLY_CONTACT]),
    reminder=st.sampled_from(REMINDER_MESSAGE_IDS),
    text=message_text,
    through_the_flow=st.booleans(),
)
@example(who=CONTACT, reminder=777, text="进展\x00顺利", through_the_flow=False)
@example(who=CONTACT, reminder=777, text="\x00" * 3, through_the_flow=True)
def test_hostile_progress_reports_break_nothing(
    world: World, who: FakeUser, reminder: int, text: str, through_the_flow: bool
) -> None:
    """A reply to a reminder, or the note step of /report: the text is stored, so it must be storable."""
    if through_the_flow:
        for step in (Press(CONTACT, OWN_REMINDER), Press(CONTACT, "rp:s:on_track"), Press(CONTACT, "rp:p:-")):
            run_step(world, step)
        run_step(world, Say(CONTACT, text))
    else:
        run_step(world, Say(who, text, reply_to=reminder))


def _visible(html_text: str) -> str:
    return unescape(re.sub(r"<[^>]*>", "", html_text)).replace("\n", "")


html_entry = st.lists(
    st.tuples(st.sampled_from(["", "b", "i", "code"]), message_text).map(
        lambda pair: f"<{pair[0]}>{escape(pair[1])}</{pair[0]}>" if pair[0] else escape(pair[1])
    ),
    min_size=1,
    max_size=4,
).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(html_entry, min_size=1, max_size=6))
@example(entries=["标题", escape("&" * 2000)])
@example(entries=[f"<b>{escape('<' * 2000)}</b>"])
def test_pages_of_hostile_text_are_valid_telegram_html(entries: list[str]) -> None:
    """Long answers are cut into pages; a cut must not break an entity or leave a tag open."""
    pages = paginate(entries)
    for page in pages:
        assert telegram_html_length(page) <= 4096
    assert _visible("".join(pages)) == _visible("".join(entries))
