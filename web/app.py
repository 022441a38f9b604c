"""The dashboard's routes: sign-in, the pages, the two decisions and the downloads.

Handlers are thin: read the cookie and the parameters, call web.data / web.actions / web.downloads (which check
what the reader may see, as the chat does), render a template. Database work runs in Starlette's thread pool, one
session per request. Anything outside the reader's county answers the same 404 as an id that does not exist.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL, FormData, Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core import labels
from bot.core.vocabulary import DINGTALK, TELEGRAM
from bot.i18n import gettext_for
from duban.config import Settings
from duban.services import oversight, progress, web_login
from duban.services.errors import ApproverIsRequester, DomainError, InvalidInput, NotAllowed, NotFound
from duban.services.missed_days import MissedDays, missed_days
from duban.services.text import number_in
from duban.status import MilestoneState, Pace
from models import Contact, ContactRole, utcnow
from web import data, downloads
from web.evidence import EvidenceSources, channel_of

if TYPE_CHECKING:
    from duban.chart import ChartRow

COOKIE = "duban_session"
log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
Gettext = Callable[[str], str]


@dataclass
class Visit:
    """One signed-in request: who asks, in which language, at what time, with which session."""

    request: Request
    session: Session
    reader: Contact
    cookie: str
    _: Gettext
    now: dt.datetime
    today: dt.date
    form: FormData | None

    @property
    def csrf(self) -> str:
        return web_login.csrf_token(self.cookie)


Page = Callable[["Dashboard", Visit], Response]
ChartDrawer = Callable[[list["ChartRow"], str], bytes]  # rows and caption -> PNG
# drawings kept: a county's plans seen whole and per plan, in two languages, with room to spare
CHARTS_KEPT = 64


def _draw_chart(rows: list[ChartRow], title: str) -> bytes:
    from duban.chart import render_progress_chart  # matplotlib is loaded only when a chart is drawn

    return render_progress_chart(rows, title=title)


def page(*roles: ContactRole) -> Callable[[Page], Callable[[Dashboard, Request], Awaitable[Response]]]:
    """Signed in (else to the sign-in page), in one of these roles (else 403), a form's CSRF token checked; a
    domain refusal becomes its page and changes nothing."""

    def decorate(handler: Page) -> Callable[[Dashboard, Request], Awaitable[Response]]:
        async def endpoint(self: Dashboard, request: Request) -> Response:
            form = None
            if request.method == "POST":
                # a stranger's body is never parsed: the session is checked first (RequestGuard bounds its size)
                if not await run_in_threadpool(self.signed_in, request):
                    return RedirectResponse("/login", status_code=HTTPStatus.SEE_OTHER)
                form = await request.form()
            return await run_in_threadpool(self.visit, handler, request, form, roles)

        endpoint.__name__ = handler.__name__
        return endpoint

    return decorate


def _ids(request: Request, name: str) -> int:
    """A path id, read as the chat reads numbers; anything else is a page that is not there."""
    text = str(request.path_params.get(name, ""))
    number = number_in(text)
    if number is None:
        raise NotFound(text)
    return number


class Dashboard:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], dt.datetime],
        evidence: EvidenceSources,
        draw_chart: ChartDrawer | None = None,
    ) -> None:
        self.engine, self.settings, self.clock, self.evidence_sources = engine, settings, clock, evidence
        self.draw_chart = draw_chart or _draw_chart
        self.charts: dict[data.ChartKey, bytes] = {}
        self.charts_lock = threading.Lock()  # pages run in Starlette's thread pool
        environment = Environment(
            loader=PackageLoader("web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.templates = Jinja2Templates(env=environment)

    # --- plumbing -------------------------------------------------------------------------------------

    def open_visit(
        self, request: Request, session: Session, form: FormData | None, roles: tuple[ContactRole, ...]
    ) -> Visit | Response:
        """The signed-in reader of this request, or the answer for one who is not (allowed)."""
        now = self.clock()
        cookie = request.cookies.get(COOKIE, "")
        reader = web_login.contact_for_session(session=session, token=cookie, now=now)
        if reader is None:
            return RedirectResponse("/login", status_code=HTTPStatus.SEE_OTHER)
        _ = gettext_for(reader.language)
        visit = Visit(request, session, reader, cookie, _, now, now.astimezone(self.settings.tz).date(), form)
        if roles and reader.role not in roles:
            return self.refusal(visit, NotAllowed(reader.role))
        if form is not None and not web_login.csrf_matches(cookie, str(form.get("csrf", ""))):
            return self.message(visit, _("This form has expired. Please go back, reload and try again."), 403)
        return visit

    def signed_in(self, request: Request) -> bool:
        with Session(self.engine) as session:
            cookie = request.cookies.get(COOKIE, "")
            return web_login.contact_for_session(session=session, token=cookie, now=self.clock()) is not None

    def visit(
        self, handler: Page, request: Request, form: FormData | None, roles: tuple[ContactRole, ...]
    ) -> Response:
        with Session(self.engine) as session:
            opened = self.open_visit(request, session, form, roles)
            if isinstance(opened, Response):
                return opened
            try:
                return handler(self, opened)
            except DomainError as error:
                session.rollback()
                return self.refusal(opened, error)

    def render(
        self, visit: Visit | None, request: Request, name: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        _ = visit._ if visit else gettext_for(self.settings.language)
        full = {
            "_": _,
            "reader": visit.reader if visit else None,
            "csrf": visit.csrf if visit else "",
            "today": visit.today if visit else None,
            "as_of": visit.now.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M") if visit else "",
            "zone": self.settings.timezone,
            "is_coordinator": bool(visit and visit.reader.role == ContactRole.coordinator),
            "evidence_online": self.evidence_sources.online,
            "evidence_elsewhere": lambda file_id: _evidence_elsewhere(_, file_id),
            "states": list(MilestoneState),
            "pace_mark": lambda pace: _pace_mark(_, pace),
            "state_label": labels.state_label,
            "status_label": labels.status_label,
            "recurrence_label": labels.recurrence_label,
            "person_name": labels.person_name,
            "contact_role_label": labels.contact_role_label,
            "local": lambda moment: moment.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M"),
            **context,
        }
        return self.templates.TemplateResponse(request, name, full, status_code=status)

    def message(self, visit: Visit, text: str, status: int) -> Response:
        return self.render(visit, visit.request, "message.html", {"text": text}, status)

    def refusal(self, visit: Visit, error: DomainError) -> Response:
        _ = visit._
        if isinstance(error, ApproverIsRequester):
            text = _("You asked for this close-out yourself, so another coordinator must decide it.")
            return self.message(visit, text, HTTPStatus.FORBIDDEN)
        if isinstance(error, NotAllowed):
            return self.message(visit, _("Sorry, that is not available to you."), HTTPStatus.FORBIDDEN)
        if isinstance(error, InvalidInput):
            reasons = {
                "already_decided": _("This close-out request has already been decided."),
                "reason_required": _("Please give a reason for the rejection."),
                "too_long": _("The reason is too long (over 2,000 characters)."),
            }
            text = reasons.get(error.reason, _("That did not work; nothing was changed."))
            return self.message(visit, text, HTTPStatus.BAD_REQUEST)
        return self.message(
            visit, _("This page does not exist, or it is not yours to see."), HTTPStatus.NOT_FOUND
        )

    # --- signing in and out -----------------------------------------------------------------------------

    async def signed_out(self, request: Request) -> Response:
        _ = gettext_for(self.settings.language)
        return self.render(None, request, "message.html", {"text": self.sign_in_hint(_), "signed_out": True})

    def sign_in_hint(self, _: Gettext, *, again: bool = False) -> str:
        """How to get a sign-in link, in the words of the channels the deployment runs (/web on Telegram, 网页 on
        DingTalk; both where both run, or where neither is set for this process)."""
        telegram, dingtalk = self.settings.telegram_bot_token is not None, self.settings.dingtalk_enabled
        if telegram != dingtalk:
            words = TELEGRAM if telegram else DINGTALK
            one = (
                _("Send {web} to the bot in chat to get a new sign-in link.")
                if again
                else _("Send {web} to the bot in chat to get a sign-in link.")
            )
            return one.format(web=words["web"])
        both = (
            _("Send {telegram} to the bot on Telegram, or {dingtalk} on DingTalk, to get a new sign-in link.")
            if again
            else _(
                "Send {telegram} to the bot on Telegram, or {dingtalk} on DingTalk, to get a sign-in link."
            )
        )
        return both.format(telegram=TELEGRAM["web"], dingtalk=DINGTALK["web"])

    async def login_form(self, request: Request) -> Response:
        return await run_in_threadpool(self._login, request, False)

    async def login(self, request: Request) -> Response:
        return await run_in_threadpool(self._login, request, True)

    def _login(self, request: Request, redeem: bool) -> Response:
        """GET shows a button and spends nothing (link previews and scanners fetch links); POST signs in."""
        _ = gettext_for(self.settings.language)
        token = str(request.path_params["token"])
        now = self.clock()
        with Session(self.engine) as session:
            try:
                if not redeem:
                    web_login.check_login_link(session=session, token=token, now=now)
                    return self.render(None, request, "login.html", {"token": token})
                opened = web_login.redeem_login_link(
                    session=session, token=token, now=now, ttl=self.settings.web_session_ttl
                )
            except web_login.LoginLinkInvalid as error:
                text = {
                    "expired": _("This sign-in link has expired (links are valid for 10 minutes)."),
                    "used": _("This sign-in link has already been used; each link opens one session."),
                }.get(error.reason, _("This sign-in link is not valid."))
                status = HTTPStatus.NOT_FOUND if error.reason == "unknown" else HTTPStatus.GONE
                hint = self.sign_in_hint(_, again=True)
                context = {"text": text, "signed_out": True, "hint": hint}
                return self.render(None, request, "message.html", context, status)
        response = RedirectResponse("/", status_code=HTTPStatus.SEE_OTHER)
        response.set_cookie(
            COOKIE,
            opened.token,
            max_age=int((opened.expires_at - now).total_seconds()),
            httponly=True,
            samesite="strict",
            secure=self.settings.web_cookie_secure,
        )
        return response

    @page()
    def logout(self, visit: Visit) -> Response:
        web_login.end_session(session=visit.session, token=visit.cookie, now=visit.now)
        response = RedirectResponse("/login", status_code=HTTPStatus.SEE_OTHER)
        response.delete_cookie(
            COOKIE, httponly=True, samesite="strict", secure=self.settings.web_cookie_secure
        )
        return response

    # --- pages -------------------------------------------------------------------------------------------

    @page()
    def overview(self, visit: Visit) -> Response:
        plans = data.overview(session=visit.session, reader=visit.reader, today=visit.today)
        return self.render(visit, visit.request, "overview.html", {"plans": plans, **self._missed(visit)})

    @page()
    def plan(self, visit: Visit) -> Response:
        chosen = self._filter(visit.request)
        ledger = data.plan_ledger(
            session=visit.session,
            reader=visit.reader,
            plan_id=_ids(visit.request, "plan_id"),
            today=visit.today,
            chosen=chosen,
        )
        return self.render(
            visit,
            visit.request,
            "plan.html",
            {
                "ledger": ledger,
                "page_url": lambda n: _relative(visit.request.url.include_query_params(page=n)),
            },
        )

    @staticmethod
    def _filter(request: Request) -> data.LedgerFilter:
        """The 台账's filters from the query; a value that is not one of the choices is a page that is not there."""
        query = request.query_params
        department, year, state, page = (query.get(k) or "" for k in ("department", "year", "state", "page"))
        numbers = {text: number_in(text) for text in (department, year, page) if text}
        if None in numbers.values() or (state and state not in {s.value for s in MilestoneState}):
            raise NotFound(str(query))
        return data.LedgerFilter(
            department_id=numbers.get(department),
            year=numbers.get(year),
            state=MilestoneState(state) if state else None,
            page=numbers.get(page) or 1,
        )

    @page()
    def department(self, visit: Visit) -> Response:
        found = data.department_page(
            session=visit.session,
            reader=visit.reader,
            department_id=_ids(visit.request, "department_id"),
            today=visit.today,
        )
        return self.render(visit, visit.request, "department.html", {"page": found})

    @page()
    def overdue(self, visit: Visit) -> Response:
        entries = data.overdue_entries(session=visit.session, reader=visit.reader, today=visit.today)
        return self.render(visit, visit.request, "overdue.html", {"entries": entries, **self._missed(visit)})

    @staticmethod
    def _missed(visit: Visit) -> dict[str, list[MissedDays]]:
        """A recent stop of the planner, on the pages whose figures it explains (reminders, the ladder's notices)."""
        return {"missed_days": missed_days(session=visit.session, reader=visit.reader, today=visit.today)}

    @page()
    def silent(self, visit: Visit) -> Response:
        found = oversight.unanswered(
            session=visit.session, reader=visit.reader, now=visit.now, today=visit.today
        )
        return self.render(visit, visit.request, "silent.html", {"found": found})

    @page(ContactRole.coordinator)
    def pending(self, visit: Visit) -> Response:
        waiting = data.pending(session=visit.session, coordinator=visit.reader)
        # the notice names a decision of this coordinator's by its request number, never text from the address
        decided = number_in(visit.request.query_params.get("done", ""))
        decision = (
            progress.decision_by(session=visit.session, coordinator=visit.reader, closeout_id=decided)
            if decided is not None
            else None
        )
        # the chat's confirmation, whose plan texts are escaped already (it is Telegram's HTML)
        notice = (
            Markup(labels.closeout_decided_for_coordinator(visit._, decision)) if decision is not None else ""
        )
        return self.render(visit, visit.request, "pending.html", {"waiting": waiting, "notice": notice})

    @page(ContactRole.coordinator)
    def approve(self, visit: Visit) -> Response:
        return self._decide(visit, approve=True)

    @page(ContactRole.coordinator)
    def reject(self, visit: Visit) -> Response:
        return self._decide(visit, approve=False)

    def _decide(self, visit: Visit, *, approve: bool) -> Response:
        assert visit.form is not None  # the decorator reads the form of every POST
        # the chat's service: the same checks and audit, and the requester's notice queued in the same commit;
        # the dispatcher sends it on its next run
        decision = progress.decide_closeout(
            session=visit.session,
            coordinator=visit.reader,
            closeout_id=_ids(visit.request, "closeout_id"),
            approve=approve,
            reason=str(visit.form.get("reason", "")),
            now=visit.now,
            tz=self.settings.tz,
        )
        return RedirectResponse(f"/pending?done={decision.closeout.id}", status_code=HTTPStatus.SEE_OTHER)

    @page()
    def milestone(self, visit: Visit) -> Response:
        detail = data.milestone_detail(
            session=visit.session,
            reader=visit.reader,
            milestone_id=_ids(visit.request, "milestone_id"),
            today=visit.today,
        )
        return self.render(visit, visit.request, "milestone.html", {"detail": detail})

    async def evidence(self, request: Request) -> Response:
        """A report's photo or document, fetched from the chat platform for a reader who may see the report:
        images open in the browser, other files download."""

        def look_up() -> tuple[Visit, str] | Response:
            with Session(self.engine) as session:
                opened = self.open_visit(request, session, None, ())
                if isinstance(opened, Response):
                    return opened
                try:
                    report_id = _ids(request, "report_id")
                    return opened, data.evidence_file_id(
                        session=session, reader=opened.reader, report_id=report_id
                    )
                except DomainError as error:
                    return self.refusal(opened, error)

        found = await run_in_threadpool(look_up)
        if isinstance(found, Response):
            return found
        visit, file_id = found
        file = await self.evidence_sources.fetch(file_id)
        if file is None:
            return self.message(visit, _evidence_elsewhere(visit._, file_id), HTTPStatus.NOT_FOUND)
        # a sender's file is data, never a page of ours: only a raster picture, by its bytes, is shown inline, as
        # that type; anything else downloads as bytes. The response carries its own CSP, so even a browser that
        # rendered it would run nothing and reach nothing of the dashboard
        inline = file.inline_type
        disposition = "inline" if inline else "attachment"
        return Response(
            file.content,
            media_type=inline or "application/octet-stream",
            headers={
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(file.filename)}",
                "Cache-Control": "private, no-store",
                "Content-Security-Policy": EVIDENCE_POLICY,
            },
        )

    @page()
    def chart(self, visit: Visit) -> Response:
        """The overview's chart, drawn once per plans seen, day and data version (data.chart_key): drawing takes
        most of the overview's time, and a county's readers look at the same figures all day."""
        from scheduler.digest_job import chart_rows

        key = data.chart_key(session=visit.session, reader=visit.reader, today=visit.today)
        with self.charts_lock:
            png = self.charts.get(key)
        if png is None:
            rows = chart_rows(session=visit.session, reader=visit.reader, today=visit.today)
            png = self.draw_chart(rows, labels.chart_caption(visit._, visit.today))
            if key.inputs_version is not None:
                with self.charts_lock:
                    self.charts[key] = png
                    while len(self.charts) > CHARTS_KEPT:  # the oldest first: yesterday's, other versions
                        del self.charts[next(iter(self.charts))]
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})

    @page()
    def ledger_download(self, visit: Visit) -> Response:
        workbook = downloads.ledger_workbook(
            session=visit.session, reader=visit.reader, today=visit.today, tz=self.settings.tz
        )
        return _attachment(workbook, XLSX, f"台账-{visit.today.isoformat()}.xlsx")

    @page()
    def tongbao_download(self, visit: Visit) -> Response:
        plan, document = downloads.tongbao_document(
            session=visit.session,
            reader=visit.reader,
            plan_id=_ids(visit.request, "plan_id"),
            today=visit.today,
            office=self.settings.issuing_office,
        )
        return _attachment(document, DOCX, f"督查通报-{plan.key}-{visit.today.isoformat()}.docx")


def _relative(url: URL) -> str:
    """A link on our pages: path and query only, never the scheme and host a request's Host header claimed."""
    return f"{url.path}?{url.query}" if url.query else url.path


def _evidence_elsewhere(_: Gettext, file_id: str) -> str:
    """Where a file the dashboard cannot show was sent, named by the platform it came from."""
    if channel_of(file_id) == "dingtalk":
        return _("Evidence was sent on DingTalk; open it there.")
    return _("Evidence was sent on Telegram; open it there.")


def _pace_mark(_: Gettext, pace: str) -> Markup:
    """A coloured dot drawn by CSS and the pace in words: the chat's 🟢🟡🔴⚪ need a colour-emoji font, which
    many office computers lack."""
    words = labels.pace_label(_, Pace(pace))
    words = words.split(" ", 1)[-1] if words[:1] in "🟢🟡🔴⚪" else words
    return Markup('<span class="pace {}"><span class="dot"></span>{}</span>').format(pace, words)


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


EVIDENCE_POLICY = "default-src 'none'; sandbox"


class RequestGuard:
    """Strangers are kept out before anything is read: a form sent from another site (Origin or Sec-Fetch-Site
    says so: the sign-in form included, or a page elsewhere could sign a coordinator's browser in as someone else)
    is refused, and a body larger than any of our forms is refused unread."""

    MAX_BODY = 64 * 1024
    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, *, base_url: str) -> None:
        self.app = app
        configured = urlsplit(base_url)
        self.configured_origin = f"{configured.scheme}://{configured.netloc}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE_METHODS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        site, origin = headers.get("sec-fetch-site"), headers.get("origin")
        own = {self.configured_origin, f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"}
        # a browser says where a request comes from in Sec-Fetch-Site; our no-referrer policy makes it send
        # "Origin: null" for our own forms, so Origin decides only where Sec-Fetch-Site is missing
        if site is not None:
            foreign = site not in ("same-origin", "none")
        else:
            foreign = origin is not None and origin not in own
        if foreign:
            log.warning(
                "refused a %s to %s from another site (%s, %s)", scope["method"], scope["path"], site, origin
            )
            return PlainTextResponse("Forbidden", status_code=HTTPStatus.FORBIDDEN)
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            return PlainTextResponse("Length Required", status_code=HTTPStatus.LENGTH_REQUIRED)
        if int(length) > self.MAX_BODY:
            return PlainTextResponse("Content Too Large", status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return None


class SecurityHeaders:
    """No framing, no inline script, no Referer (a sign-in link in a URL must not travel to other sites)."""

    HEADERS = (
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *self.HEADERS]
                # a signed-in page must not stay in a shared computer's cache (only our stylesheet may)
                if not scope["path"].startswith("/static/") and not any(
                    k == b"cache-control" for k, _ in headers
                ):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def build_web_app(
    engine: Engine,
    settings: Settings,
    clock: Callable[[], dt.datetime] = utcnow,
    evidence: EvidenceSources | None = None,
    draw_chart: ChartDrawer | None = None,
) -> Starlette:
    """The dashboard as an ASGI app, for `duban web` alone or mounted beside the webhook in `duban run`.
    `evidence` fetches report files from the platforms they were sent on; where it has no source for a platform,
    the pages say where the files are. `draw_chart` draws the overview's chart (tests count the drawings)."""
    from starlette.middleware import Middleware

    dashboard = Dashboard(engine, settings, clock, evidence or EvidenceSources(), draw_chart)

    def bound(
        endpoint: Callable[[Dashboard, Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def call(request: Request) -> Response:
            return await endpoint(dashboard, request)

        return call

    d = Dashboard
    return Starlette(
        routes=[
            Route("/", bound(d.overview)),
            Route("/login", dashboard.signed_out),
            Route("/login/{token}", dashboard.login_form, methods=["GET"]),
            Route("/login/{token}", dashboard.login, methods=["POST"]),
            Route("/logout", bound(d.logout), methods=["POST"]),
            Route("/plans/{plan_id}", bound(d.plan)),
            Route("/plans/{plan_id}/tongbao.docx", bound(d.tongbao_download)),
            Route("/departments/{department_id}", bound(d.department)),
            Route("/overdue", bound(d.overdue)),
            Route("/silent", bound(d.silent)),
            Route("/pending", bound(d.pending)),
            Route("/closeouts/{closeout_id}/approve", bound(d.approve), methods=["POST"]),
            Route("/closeouts/{closeout_id}/reject", bound(d.reject), methods=["POST"]),
            Route("/milestones/{milestone_id}", bound(d.milestone)),
            Route("/evidence/{report_id}", dashboard.evidence),
            Route("/chart.png", bound(d.chart)),
            Route("/ledger.xlsx", bound(d.ledger_download)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders), Middleware(RequestGuard, base_url=settings.web_base_url)],
    )
