"""The bot's commands without a platform: what a person typed in, core Messages out.

A chat platform without Telegram's command menu and deep links (DingTalk) hands every text here. People may type
`/tasks` or the Chinese word (任务), with or without the slash, and numbers right after the word (任务3). The
commands call the same services, with the same role checks, as the Telegram handlers (bot/telegram/handlers.py) and show
the same views (bot/telegram/paged_views.py), read as plain text: escaping is the adapter's job.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from bot.core import labels
from bot.core.message import Action, Message, Section
from bot.core.vocabulary import DINGTALK, Commands
from bot.i18n import gettext_for
from bot.telegram import paged_views, views
from duban.config import Settings
from duban.services import inbound, invites, oversight, progress, reminders, tasks
from duban.services.errors import (
    ApproverIsRequester,
    DomainError,
    InvalidInput,
    InviteInvalid,
    NotFound,
    NumberNoLongerOpen,
    NumberNotListed,
)
from duban.services.web_login import LOGIN_TTL, issue_login_link
from models import Contact, ContactRole, Department, Milestone, Task

# the word a person types -> the command; Chinese first, the Telegram command names too
WORDS: dict[str, str] = {
    **{w: "help" for w in ("help", "start", "帮助", "菜单")},
    **{w: "tasks" for w in ("tasks", "任务", "我的任务", "task")},
    **{w: "report" for w in ("report", "汇报", "进度")},
    **{w: "overdue" for w in ("overdue", "逾期")},
    **{w: "status" for w in ("status", "状态", "统计")},
    **{w: "silent" for w in ("silent", "未回复")},
    **{w: "digest" for w in ("digest", "周报")},
    **{w: "pending" for w in ("pending", "待审核", "待销号")},
    **{w: "approve" for w in ("approve", "同意", "通过", "同意销号")},
    **{w: "reject" for w in ("reject", "驳回", "退回")},
    **{w: "find" for w in ("find", "查找", "搜索")},
    **{w: "dept" for w in ("dept", "部门")},
    **{w: "invite" for w in ("invite", "邀请")},
    **{w: "web" for w in ("web", "网页", "网页版")},
    **{w: "contacts" for w in ("contacts", "联系人", "人员")},
    **{w: "revoke" for w in ("revoke", "停用", "撤销权限")},
    # the coordinator's pause of the overdue ladder; "snooze" is Telegram's name for it (/snooze #N days reason),
    # so it means the same here, and a reminder's own "later" is 延后 or the /snz of its link
    **{w: "pause" for w in ("pause", "snooze", "暂停", "暂停催办")},
    # a reminder's actions, as the core Message's actions carry them (bot/core/notices.py: /ackall HEAD,
    # /rep ROW, /nc ROW, /snz HEAD DAYS, the ids the Telegram buttons carry) and as people type them
    **{w: "ack" for w in ("ack", "签收")},
    **{w: "ackall" for w in ("ackall", "收到", "全部签收")},
    **{w: "snz" for w in ("snz", "延后", "稍后提醒")},
    **{w: "nochange" for w in ("nc", "nochange", "无变化", "本月无变化")},
    **{w: "rep" for w in ("rep", "汇报提醒")},
    # the 撤销 link under a report's confirmation (/undo REPORT), as Telegram's 撤销 button
    **{w: "undo" for w in ("undo", "撤销", "撤回")},
}
# who may run what: the same roles as the Telegram handlers' @member(...) (empty: every joined user)
ROLES: dict[str, tuple[ContactRole, ...]] = {
    "help": (),
    "tasks": (ContactRole.contact,),
    "report": (ContactRole.contact,),
    "find": (),
    "overdue": (ContactRole.coordinator, ContactRole.lead),
    "status": (ContactRole.coordinator, ContactRole.lead),
    "silent": (ContactRole.coordinator, ContactRole.lead),
    "digest": (ContactRole.coordinator, ContactRole.lead),
    "pending": (ContactRole.coordinator,),
    "approve": (ContactRole.coordinator,),
    "reject": (ContactRole.coordinator,),
    "dept": (ContactRole.coordinator, ContactRole.lead),
    "invite": (ContactRole.coordinator,),
    "web": (ContactRole.coordinator, ContactRole.lead),
    "contacts": (ContactRole.coordinator,),
    "revoke": (ContactRole.coordinator,),
    "pause": (ContactRole.coordinator,),
    # only the person a reminder went to may act on it; the reminders service checks that
    "ack": (),
    "ackall": (),
    "snz": (),
    "nochange": (),
    "rep": (),
    "undo": (ContactRole.contact,),  # and only their own report, as the progress service checks
}
# after "/rep N" alone (the 汇报 link under item N), the person's next plain text is the report on it
REPORT_PROMPT_WINDOW = dt.timedelta(minutes=30)
# a picture or file sent this soon after a report is that report's evidence (DingTalk has no replies)
EVIDENCE_WINDOW = dt.timedelta(minutes=30)
JOIN_WORDS = ("/start", "start", "join", "加入", "邀请码")
# an invitation code: 32 letters and digits (duban/services/invites.py); codes issued before were
# secrets.token_urlsafe(24), which has - and _ too
_CODE = re.compile(r"[A-Za-z0-9_-]{24,64}")
# a command word, then its arguments; a Chinese word may run straight into its number (任务3, 汇报2 完成60%)
_COMMAND = re.compile(r"^/?(?P<word>[A-Za-z]+|[\u4e00-\u9fff]+?)(?=[\s\d]|$)\s*(?P<rest>.*)$", re.S)
_TAG = re.compile(r"<[^>]+>")
# a number first (a task or request number, ASCII digits as /task takes them), then free text
_NUMBER_FIRST = re.compile(r"^#?([0-9]{1,9})(?![0-9])\s*(.*)$", re.S)
# 暂停 N 天数 理由: a milestone number (as 逾期 shows it, [#N]), the days, then the reason
_PAUSE = re.compile(r"^#?([0-9]{1,9})\s+([0-9]{1,9})(?![0-9])\s*(.*)$", re.S)


@dataclass(frozen=True)
class Sender:
    """Who wrote: a channel and that channel's id of the person."""

    channel: str  # "dingtalk"
    user_id: str


@dataclass(frozen=True)
class Answer:
    """What the core says back to the sender, and the outbox rows (ids) it queued for others."""

    messages: list[Message]
    notices: tuple[int, ...] = ()


@dataclass(frozen=True)
class Clock:
    """What the views need of the bot's runtime: now, today in the county's time zone, and the channel's words."""

    settings: Settings
    now: Callable[[], dt.datetime]
    words: Commands = DINGTALK  # the core serves DingTalk (Sender.channel): its texts teach DingTalk's words

    def today(self) -> dt.date:
        return self.now().astimezone(self.settings.tz).date()


def plain(telegram_html: str) -> str:
    """A view's text as plain text: its tags dropped, its escaped user text given back literally."""
    return html.unescape(_TAG.sub("", telegram_html))


def parse(text: str) -> tuple[str | None, str]:
    """(command, arguments), or (None, text) for words that are no command."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None, text.strip()
    command = WORDS.get(match.group("word").lower())
    return (command, match.group("rest").strip()) if command else (None, text.strip())


class CommandCore:
    """Text in, Messages out, for people who joined on `channel`."""

    def __init__(self, *, session: Callable[[], Session], clock: Clock) -> None:
        self._session = session
        self.clock = clock
        self._notices: list[int] = []

    def handle(self, sender: Sender, text: str, message_id: str | None = None) -> list[Message]:
        return self.answer(sender, text, message_id).messages

    def answer(self, sender: Sender, text: str, message_id: str | None = None) -> Answer:
        """The replies, and the outbox rows the command queued for other people (committed with its change),
        which the adapter sends before it replies.

        `message_id` is the platform's id of the message (DingTalk's msgId): it is stored with what the message
        changes, in that transaction, and a message whose change is stored already (a redelivery, after a restart
        or on another instance) does nothing and is not answered (duban/services/inbound.py).
        """
        self._notices = []
        try:
            messages = self._handle(sender, text, message_id)
        except inbound.AlreadyHandled:  # another delivery committed first; this one's change was rolled back
            messages, self._notices = [], []
        return Answer(messages=messages, notices=tuple(self._notices))

    def _handle(self, sender: Sender, text: str, message_id: str | None) -> list[Message]:
        with self._session() as session:
            if not self._first_delivery(session, sender, message_id):
                return []
            contact = self._contact(session, sender)
            code = join_code(text)
            if code is not None:  # a stranger joining, or someone joined taking up a new invitation
                joined = self._join(session, sender, code)
                return [] if inbound.handled_elsewhere(session) else [joined]
            if contact is None:
                stranger = gettext_for(self.clock.settings.language)
                return [self._message(stranger, not_joined(stranger))]
            _ = gettext_for(contact.language)
            command, args = parse(text)
            # after the 汇报 link, the next text ends the wait whatever it is; a report made of it is recorded
            # in the same transaction as the wait ends (the wait is in the database: restarts and instances).
            # Nothing is committed before the command: the ended wait and the message's id go with its change
            # (or are committed alone below when it changes nothing), so a crash leaves all of them or none.
            awaited = reminders.take_awaited_report(session=session, contact=contact, now=self.clock.now())
            reporting = command is None and awaited is not None and not text.startswith("/")
            if reporting:
                command, args = "rep", f"{awaited} {text}"
            if command is None:
                session.commit()
                return [
                    self._message(
                        _,
                        views.unknown_command(_, self.clock.words)
                        if text.startswith("/")
                        else self._hint(_, contact),
                    )
                ]
            if ROLES[command] and contact.role not in ROLES[command]:
                session.commit()
                return [self._message(_, views.not_allowed(_))]
            try:
                messages = self._run(session, contact, _, command, args)
            except DomainError as error:
                session.rollback()
                if inbound.handled_elsewhere(session):  # its other delivery acted first: say nothing
                    return []
                # the refused text still ends the wait, as any next text does
                reminders.take_awaited_report(session=session, contact=contact, now=self.clock.now())
                session.commit()
                return [self._message(_, _refusal(_, error, self.clock.words))]
            session.commit()  # for a command that changed nothing itself: the wait it ended
            return messages

    def _first_delivery(self, session: Session, sender: Sender, message_id: str | None) -> bool:
        """False for a message whose change is stored already: it does nothing a second time. Otherwise its id
        is stored with the first commit of `session` that changes something."""
        if message_id is None:
            return True
        if inbound.handled(session=session, channel=sender.channel, message_id=message_id):
            return False
        inbound.record_with_commit(
            session=session, channel=sender.channel, message_id=message_id, now=self.clock.now()
        )
        return True

    # ---- joining --------------------------------------------------------------------------------------

    def _contact(self, session: Session, sender: Sender) -> Contact | None:
        if sender.channel != "dingtalk":
            raise ValueError(f"unknown channel {sender.channel}")
        return invites.contact_for_dingtalk_user(session=session, dingtalk_user_id=sender.user_id)

    def _join(self, session: Session, sender: Sender, code: str) -> Message:
        """Bind this person to the invited contact; a stranger learns nothing else."""
        _ = gettext_for(self.clock.settings.language)
        try:
            contact = invites.redeem_invite(
                session=session,
                token=code,
                dingtalk_user_id=sender.user_id,
                language=self.clock.settings.language,
                now=self.clock.now(),
            )
        except InviteInvalid:
            return self._message(_, invite_code_invalid(_))
        department = session.get(Department, contact.department_id)
        assert department is not None
        return self._message(
            _,
            views.welcome(_, department.name, contact.role, self.clock.words),
            *_help_sections(_, contact.role),
        )

    # ---- commands -------------------------------------------------------------------------------------

    def _run(
        self, session: Session, contact: Contact, _: views.Gettext, command: str, args: str
    ) -> list[Message]:
        if command == "help":
            return [Message(title=_("What you can do"), sections=_help_sections(_, contact.role))]
        if command == "tasks":
            if args:
                return [self._view(session, contact, _, "task", _number(args, "usage_task"))]
            return [self._view(session, contact, _, "tasks")]
        if command == "report":
            return self._report(session, contact, _, args)
        if command in ("overdue", "silent", "digest", "pending"):
            return [self._view(session, contact, _, command)]
        if command == "status":
            return [self._view(session, contact, _, "status", self._department_id(session, contact, args))]
        if command == "dept":
            if not args:
                raise InvalidInput("usage_dept")
            return [self._view(session, contact, _, "dept", self._department_id(session, contact, args))]
        if command == "invite":
            return self._invite(session, contact, _, args)
        if command == "web":
            return self._web(session, contact, _)
        if command == "contacts":
            return [self._view(session, contact, _, "contacts")]
        if command == "revoke":
            return self._revoke(session, contact, _, args)
        if command == "pause":
            return self._pause(session, contact, _, args)
        if command in ("approve", "reject"):
            return self._decide(session, contact, _, args, approve=command == "approve")
        if command == "find":
            return self._find(session, contact, _, args)
        if command == "rep":
            return self._report_on_reminder(session, contact, _, args)
        if command in ("ack", "ackall", "snz", "nochange"):
            return self._reminder_action(session, contact, _, command, args)
        if command == "undo":
            return self._undo(session, contact, _, args)
        raise AssertionError(command)

    def _reminder_action(
        self, session: Session, contact: Contact, _: views.Gettext, command: str, args: str
    ) -> list[Message]:
        """收到 N, 延后 N 天数, 无变化 N: what the Telegram reminder buttons do, by reminder number N."""
        words = args.split()
        numbers = [_number(w, "stale") for w in words]
        if not numbers or len(numbers) != (2 if command == "snz" else 1):
            raise InvalidInput("stale")
        reminder_id = int(numbers[0])
        now = self.clock.now()
        if command == "ack":
            reminders.acknowledge(session=session, contact=contact, notification_id=reminder_id, now=now)
            return [self._message(_, views.acknowledged(_))]
        if command == "ackall":  # the whole 督办提醒 the row went out in
            reminders.acknowledge_all(session=session, contact=contact, notification_id=reminder_id, now=now)
            return [self._message(_, views.acknowledged(_))]
        if command == "snz":  # the whole 督办提醒 comes back together
            days = int(numbers[1])
            reminders.snooze_all(
                session=session,
                contact=contact,
                notification_id=reminder_id,
                days=days,
                now=now,
                tz=self.clock.settings.tz,
            )
            return [self._message(_, views.snoozed(_, days))]
        outcome = reminders.report_no_change(
            session=session, contact=contact, notification_id=reminder_id, now=now, tz=self.clock.settings.tz
        )
        task = session.get(Task, outcome.milestone.task_id)
        assert task is not None
        return [self._confirmation(_, outcome, task)]

    def _report_on_reminder(
        self, session: Session, contact: Contact, _: views.Gettext, args: str
    ) -> list[Message]:
        """/rep N text: progress on the item of a reminder (row N), as a reply to it is on Telegram.

        /rep N alone (the 汇报 link) asks for the progress and takes the person's next text as it.
        """
        match = _NUMBER_FIRST.match(args)
        if match is None:
            raise InvalidInput("stale")
        row = reminders.own_reminder(session=session, contact=contact, notification_id=int(match.group(1)))
        if row.milestone_id is None:
            raise InvalidInput("stale")
        note = match.group(2).strip()
        milestone = session.get(Milestone, row.milestone_id)
        assert milestone is not None
        task = session.get(Task, milestone.task_id)
        assert task is not None
        if not note:
            assert row.id is not None
            reminders.await_report(
                session=session,
                contact=contact,
                notification_id=row.id,
                until=self.clock.now() + REPORT_PROMPT_WINDOW,
            )
            return [self._message(_, report_prompt(_, task))]
        outcome = self._record_report(session, contact, row.milestone_id, progress.parse_progress_text(note))
        return [self._confirmation(_, outcome, task)]

    def handle_file(self, sender: Sender, file_ref: str, message_id: str | None = None) -> list[Message]:
        """A picture or file: evidence for the sender's report of the last half hour (DingTalk has no replies).
        A redelivered one does nothing, as a text does (`answer`)."""
        with self._session() as session:
            if not self._first_delivery(session, sender, message_id):
                return []
            contact = self._contact(session, sender)
            if contact is None:
                stranger = gettext_for(self.clock.settings.language)
                return [self._message(stranger, not_joined(stranger))]
            _ = gettext_for(contact.language)
            now = self.clock.now()
            report = progress.latest_report_since(
                session=session, contact=contact, since=now - EVIDENCE_WINDOW
            )
            if report is None:
                return [self._message(_, evidence_needs_a_report(_))]
            try:
                saved = progress.attach_evidence(
                    session=session,
                    contact=contact,
                    milestone_id=report.milestone_id,
                    file_id=file_ref,
                    now=now,
                )
            except DomainError as error:
                session.rollback()
                return (
                    []
                    if inbound.handled_elsewhere(session)
                    else [self._message(_, _refusal(_, error, self.clock.words))]
                )
            except inbound.AlreadyHandled:  # another delivery of it saved the evidence first
                return []
            milestone = session.get(Milestone, saved.milestone_id)
            assert milestone is not None
            task = session.get(Task, milestone.task_id)
            assert task is not None
            return [self._message(_, views.evidence_saved(_, task))]

    def _view(
        self, session: Session, contact: Contact, _: views.Gettext, view: str, arg: str = ""
    ) -> Message:
        """Every entry of a view in one message: the adapter cuts it to its platform's size."""
        entries = [plain(e) for e in paged_views.entries(view, session, contact, self.clock, _, arg)]
        title, *rest = entries or [""]
        return Message(title=title, sections=tuple(Section(lines=tuple(e.split("\n"))) for e in rest))

    @staticmethod
    def _department_id(session: Session, contact: Contact, name: str) -> str:
        """A department of the reader's county by name, as the views take it ("" for none given)."""
        if not name:
            return ""
        return str(oversight.department_for_reader(session=session, reader=contact, name=name).id)

    def _invite(self, session: Session, contact: Contact, _: views.Gettext, args: str) -> list[Message]:
        """邀请 部门 contact|coordinator|lead: a coordinator invites a colleague of their county; the code is
        what the colleague sends the robot (the link in it serves Telegram)."""
        words = args.split()
        if len(words) != 2 or words[1] not in {r.value for r in ContactRole}:
            raise InvalidInput("usage_invite")
        own = session.get(Department, contact.department_id)
        assert own is not None
        department = invites.resolve_department(session=session, name=words[0], region=own.region)
        issued = invites.create_invite(
            session=session,
            department=department,
            role=ContactRole(words[1]),
            now=self.clock.now(),
            ttl=self.clock.settings.invite_ttl,
            plan=contact.plan,
            invited_by=contact,
        )
        return [
            self._message(
                _,
                invite_code_created(
                    _,
                    department.name,
                    issued.token,
                    issued.expires_at.astimezone(self.clock.settings.tz).date(),
                ),
            )
        ]

    def _web(self, session: Session, contact: Contact, _: views.Gettext) -> list[Message]:
        """网页: the same single-use sign-in link as Telegram's /web, for the dashboard at DUBAN_WEB_BASE_URL."""
        issued = issue_login_link(session=session, contact=contact, now=self.clock.now())
        minutes = int(LOGIN_TTL.total_seconds() // 60)
        text = _("Your link to the web dashboard, for you only, single use, valid {minutes} minutes:\n{link}")
        return [
            self._message(_, text.format(minutes=minutes, link=issued.link(self.clock.settings.web_base_url)))
        ]

    def _revoke(self, session: Session, contact: Contact, _: views.Gettext, args: str) -> list[Message]:
        """停用 N: person N of 联系人 loses access with their next message; their unused invitation dies."""
        revoked = invites.deactivate_contact(
            session=session, contact_id=int(_number(args, "usage_revoke")), now=self.clock.now(), by=contact
        )
        department = session.get(Department, revoked.department_id)
        assert department is not None
        return [self._message(_, views.contact_revoked(_, revoked, department.name))]

    def _pause(self, session: Session, contact: Contact, _: views.Gettext, args: str) -> list[Message]:
        """暂停 N 天数 理由: a coordinator stops the overdue ladder of milestone N (from 逾期) for a while."""
        match = _PAUSE.match(args)
        if match is None:
            raise InvalidInput("usage_snooze")
        milestone, until = oversight.pause_escalation(
            session=session,
            coordinator=contact,
            milestone_id=int(match.group(1)),
            days=int(match.group(2)),
            reason=match.group(3),
            now=self.clock.now(),
            today=self.clock.today(),
        )
        task = session.get(Task, milestone.task_id)
        assert task is not None
        return [self._message(_, views.escalation_paused(_, task, until))]

    def _record_report(
        self, session: Session, contact: Contact, milestone_id: int, parsed: progress.ParsedProgress
    ) -> progress.ReportOutcome:
        """A typed report read like a reply to a reminder; the notices it queued are sent before the answer."""
        outcome = progress.record_report(
            session=session,
            contact=contact,
            milestone_id=milestone_id,
            status=parsed.status,
            percent=parsed.percent,
            note=parsed.note,
            now=self.clock.now(),
            tz=self.clock.settings.tz,
        )
        self._notices += outcome.notices
        return outcome

    def _report(self, session: Session, contact: Contact, _: views.Gettext, args: str) -> list[Message]:
        """汇报 N text: progress on task N as this person's 任务 list showed it, read like a reply to a reminder."""
        match = _NUMBER_FIRST.match(args)
        if match is None:
            raise InvalidInput("usage_report")
        number, parsed = int(match.group(1)), progress.parse_progress_text(match.group(2))
        line = tasks.line_by_number(session=session, contact=contact, number=number, today=self.clock.today())
        outcome = self._record_report(session, contact, line.milestone_id, parsed)
        task = session.get(Task, outcome.milestone.task_id)
        assert task is not None
        # the coordinators' notice of a 销号 request was queued with the report, in one transaction
        return [self._confirmation(_, outcome, task)]

    def _decide(
        self, session: Session, contact: Contact, _: views.Gettext, args: str, *, approve: bool
    ) -> list[Message]:
        """同意 N / 驳回 N 理由: the coordinator's 销号 decision, and the requester is told."""
        match = _NUMBER_FIRST.match(args)
        if match is None:
            raise InvalidInput("usage_approve")
        decision = progress.decide_closeout(
            session=session,
            coordinator=contact,
            closeout_id=int(match.group(1)),
            approve=approve,
            reason=match.group(2).strip(),
            now=self.clock.now(),
            tz=self.clock.settings.tz,
        )
        self._notices += decision.notices
        # the requester's notice was queued with the decision, in one transaction
        return [self._message(_, labels.closeout_decided_for_coordinator(_, decision))]

    def _find(self, session: Session, contact: Contact, _: views.Gettext, keyword: str) -> list[Message]:
        if not keyword:
            raise InvalidInput("usage_find")
        if len(keyword) > 100:
            raise InvalidInput("too_long")
        found = tasks.find_tasks(session=session, contact=contact, keyword=keyword)
        return [self._message(_, views.found_tasks(_, keyword, found))]

    def _hint(self, _: views.Gettext, contact: Contact) -> str:
        if contact.role == ContactRole.contact:
            return report_hint(_)
        return _("Send 帮助 (help) to see what you can do.")

    def _undo(self, session: Session, contact: Contact, _: views.Gettext, args: str) -> list[Message]:
        """撤销 (the link under a confirmation carries the report's id; typed alone: the person's last report)."""
        now = self.clock.now()
        if args:
            report_id = int(_number(args, "stale"))
        else:
            last = progress.latest_report_since(
                session=session, contact=contact, since=now - progress.UNDO_WINDOW
            )
            if last is None or last.id is None:
                raise InvalidInput("undo_too_late")
            report_id = last.id
        report = progress.undo_report(session=session, contact=contact, report_id=report_id, now=now)
        return [self._message(_, views.report_undone(_, report))]

    def _confirmation(self, _: views.Gettext, outcome: progress.ReportOutcome, task: Task) -> Message:
        """What was saved, on which milestone, with a 撤销 link for the undo window (as Telegram's button)."""
        text = views.report_confirmation(_, outcome, task) + "\n" + views.undo_hint(_, progress.UNDO_WINDOW)
        message = self._message(_, text)
        undo = Action(label=views.undo_button(_), command=f"/undo {outcome.report.id}")
        return Message(title=message.title, sections=message.sections, actions=(undo,))

    @staticmethod
    def _message(_: views.Gettext, text: str, *sections: Section) -> Message:
        """A reply whose first line is its title and whose other lines are its first section."""
        first, *rest = plain(text).split("\n")
        body = (Section(lines=tuple(rest)),) if rest else ()
        return Message(title=first, sections=body + tuple(sections))


def join_code(text: str) -> str | None:
    """The invitation code in a text: the code alone, or after 加入 / join / /start.

    A code copied out of a DingTalk message may carry the backslashes its markdown escaping put before - and _
    (codes issued before they were letters and digits only); no code has a backslash, so they are dropped.
    """
    words = text.replace("\\", "").strip().split()
    if words and words[0].lower() in JOIN_WORDS:
        words = words[1:]
    return words[0] if len(words) == 1 and _CODE.fullmatch(words[0]) else None


def _number(text: str, usage: str) -> str:
    text = text.strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput(usage)
    return text


def _refusal(_: views.Gettext, error: DomainError, words: Commands) -> str:
    """A refusal as the Telegram bot words it (bot/telegram/views.py) in the channel's words, plus the usage lines whose
    DingTalk example reads better than the word alone."""
    if isinstance(error, ApproverIsRequester):
        return views.approver_is_requester(_)
    if isinstance(error, NumberNotListed):
        return views.number_not_listed(_, error, words["tasks"])
    if isinstance(error, NumberNoLongerOpen):
        return views.number_no_longer_open(_, error, words["tasks"])
    if isinstance(error, InvalidInput) and error.reason == "stale":
        return views.stale_button(_)
    if isinstance(error, InvalidInput):
        dingtalk_usage = {
            "usage_report": usage_report,
            "usage_revoke": usage_revoke,
            "usage_snooze": usage_pause,
        }
        usage = dingtalk_usage.get(error.reason)
        return usage(_) if usage is not None else views.invalid_input(_, error.reason, words)
    if isinstance(error, NotFound):
        return views.not_found(_)
    return views.not_allowed(_)


def _help_sections(_: views.Gettext, role: ContactRole) -> tuple[Section, ...]:
    lines = [f"{word} — {description}" for _command, word, description in commands_for(_, role)]
    if role == ContactRole.contact:
        lines.append(report_hint(_))
    return (Section(lines=tuple(lines)),)


def commands_for(_: views.Gettext, role: ContactRole) -> list[tuple[str, str, str]]:
    """(command, the Chinese word to type, what it does) for this role."""
    contact = [
        ("tasks", "任务", _("your department's open milestones; 任务 N shows task N in full")),
        ("report", "汇报", _("report progress on task N: 汇报 N 完成60%，已开工")),
        (
            "undo",
            "撤销",
            _(
                "take back your last report within {minutes} minutes: 撤销, or the link under its confirmation"
            ).format(minutes=int(progress.UNDO_WINDOW.total_seconds() // 60)),
        ),
    ]
    readers = [
        ("status", "状态", _("progress by plan and by year")),
        ("overdue", "逾期", _("overdue milestones")),
        ("silent", "未回复", _("departments that have not answered their last reminder")),
        ("digest", "周报", _("this week's digest")),
        ("dept", "部门", _("one department's milestones: 部门 name")),
        ("web", "网页", _("a link to the web dashboard (台账, 通报)")),
    ]
    coordinator = [
        ("invite", "邀请", _("invite someone: 邀请 department contact|coordinator|lead")),
        ("pending", "待销号", _("close-out requests waiting for you")),
        ("approve", "同意", _("approve close-out request N: 同意 N")),
        ("reject", "驳回", _("reject close-out request N: 驳回 N reason")),
        ("pause", "暂停", _("pause the overdue escalation of milestone N (from 逾期): 暂停 N days reason")),
        ("contacts", "联系人", _("everyone with access in your county, and unused invitations")),
        ("revoke", "停用", _("end someone's access or cancel their invitation: 停用 N")),
    ]
    common = [("help", "帮助", _("what I can do")), ("find", "查找", _("search tasks: 查找 keyword"))]
    if role == ContactRole.contact:
        return [*contact, *common]
    if role == ContactRole.coordinator:
        return [*readers, *coordinator, *common]
    return [*readers, *common]


def not_joined(_: views.Gettext) -> str:
    return _(
        "Hello! This is duban, the work-plan reminder bot. You have not joined yet: please send me the "
        "invitation code your education bureau gave you."
    )


def invite_code_invalid(_: views.Gettext) -> str:
    return _(
        "This invitation code is not valid: it may have expired or been used already. Please ask for a new one."
    )


def report_hint(_: views.Gettext) -> str:
    return DINGTALK.how_to_report(_)


def usage_report(_: views.Gettext) -> str:
    return _("Please give the task number from 任务, e.g. “汇报 2 完成60%”.")


def usage_revoke(_: views.Gettext) -> str:
    return _("Please give the number from 联系人, e.g. “停用 12”.")


def usage_pause(_: views.Gettext) -> str:
    return _(
        "Usage: 暂停 N days reason, e.g. “暂停 12 7 等待资金到位” (N from 逾期, 1 to {days} days)."
    ).format(days=oversight.MAX_PAUSE_DAYS)


def report_prompt(_: views.Gettext, task: Task) -> str:
    return _("Report on {ref} {title}: send your progress now, e.g. “完成60%，已开工” or “已完成”.").format(
        ref=task.ref, title=task.title
    )


def evidence_needs_a_report(_: views.Gettext) -> str:
    return _("To keep a picture or file as evidence, first send your progress (汇报 N …), then the file.")


def invite_code_created(_: views.Gettext, department: str, code: str, until: dt.date) -> str:
    return _(
        "Invitation code for {department} (valid until {until}, once):\n{code}\n"
        "The colleague sends this code to the robot in DingTalk."
    ).format(department=department, until=until.isoformat(), code=code)
