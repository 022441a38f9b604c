"""The dashboard over HTTP: cookies, sign-in pages, 404s that tell nothing, CSRF, escaping, downloads."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from duban.chart import ChartRow
from duban.services.invites import deactivate_contact
from duban.services.oversight import pause_escalation
from duban.services.web_login import issue_login_link
from duban.status import overdue_views
from models import CloseoutRequest, CloseoutStatus, Department, Milestone, MilestoneStatus, Notification
from models.planning import record_gap
from scheduler.escalation import EscalationPolicy, plan_escalations
from tests.web.conftest import (
    FOREIGN_PLAN,
    HOME_PLAN,
    NOW,
    County,
    milestone_of,
    plan_id,
    request_closeout,
    said,
    settings,
    sign_in,
)
from web import data
from web.app import COOKIE, build_web_app

NOT_YOURS = "页面不存在，或您无权查看。"


def message(page: str) -> str:
    found = re.search(r'<p class="message" id="message">(.*?)</p>', page)
    assert found, page
    return found.group(1)


def test_signing_in_sets_a_strict_httponly_cookie_and_a_reused_link_says_so(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    issued = issue_login_link(session=seeded, contact=county.coordinator, now=NOW)
    confirm = app_client.get(f"/login/{issued.token}")
    assert "此链接只能使用一次" in confirm.text
    assert confirm.headers["referrer-policy"] == "no-referrer"
    answer = app_client.post(f"/login/{issued.token}", follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert answer.headers["location"] == "/"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http in this test; see the next test
    assert "淄川区推进乡村教育振兴工作方案" in app_client.get("/").text

    again = TestClient(app_client.app).post(f"/login/{issued.token}", follow_redirects=False)
    assert again.status_code == 410 and COOKIE not in again.cookies
    assert message(again.text) == "此登录链接已被使用；每个链接只能登录一次。"
    assert "请向机器人发送 /web（Telegram）或 网页（钉钉），获取新的登录链接。" in again.text


def test_the_cookie_is_secure_behind_https(seeded: Session, county: County, engine: Engine) -> None:
    app = build_web_app(engine, settings(web_base_url="https://duban.example.gov.cn"), lambda: NOW)
    issued = issue_login_link(session=seeded, contact=county.lead, now=NOW)
    answer = TestClient(app, base_url="https://testserver").post(
        f"/login/{issued.token}", follow_redirects=False
    )
    assert "Secure" in answer.headers["set-cookie"]


def test_an_expired_link_says_so(
    seeded: Session, county: County, app_client: TestClient, clock: list[dt.datetime]
) -> None:
    issued = issue_login_link(session=seeded, contact=county.lead, now=NOW)
    clock[0] = NOW + dt.timedelta(minutes=11)
    answer = app_client.get(f"/login/{issued.token}")
    assert answer.status_code == 410
    assert message(answer.text) == "此登录链接已过期（链接有效期为 10 分钟）。"


def test_without_a_session_every_page_leads_to_the_sign_in_page(
    app_client: TestClient, seeded: Session
) -> None:
    for path in ("/", "/plans/1", "/pending", "/ledger.xlsx", "/milestones/1"):
        answer = app_client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert (
        message(app_client.get("/login").text)
        == "请向机器人发送 /web（Telegram）或 网页（钉钉），获取登录链接。"
    )


@pytest.mark.parametrize(
    ("channels", "hint"),
    [
        ({"telegram_bot_token": "123456:ABCdefGhIJKlmnOPQrstUVwxyz0123456789"}, "发送 /web，"),
        (
            {"dingtalk_client_id": "dingwebhint0001", "dingtalk_client_secret": "s3cr3t-web-hint-0123"},
            "发送 网页，",
        ),
    ],
    ids=["telegram", "dingtalk"],
)
def test_the_sign_in_page_teaches_the_command_of_the_channel_the_county_uses(
    engine: Engine, channels: dict[str, str], hint: str
) -> None:
    """A DingTalk county's reader cannot send /web; they send 网页."""
    with TestClient(build_web_app(engine, settings(**channels), lambda: NOW)) as client:
        assert message(client.get("/login").text) == f"请在聊天中向机器人{hint}获取登录链接。"


def test_a_revoked_reader_loses_an_open_dashboard_session_at_once(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    """/revoke in chat (deactivate_contact) ends the web session too: access is checked on every request."""
    sign_in(app_client, seeded, county.lead)
    assert app_client.get("/", follow_redirects=False).status_code == 200
    deactivate_contact(session=seeded, contact_id=county.lead.id or 0, now=NOW, by=county.coordinator)
    for path in ("/", f"/plans/{plan_id(seeded, HOME_PLAN)}", "/ledger.xlsx"):
        answer = app_client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_the_overdue_page_says_what_went_out_and_shows_a_pause_escaped(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    [first, *_rest] = data.overdue_entries(session=seeded, reader=county.lead, today=NOW.date())
    pause_escalation(
        session=seeded,
        coordinator=county.coordinator,
        milestone_id=first.line.view.milestone_id,
        days=3,
        reason="<script>等待资金</script>",
        now=NOW,
        today=NOW.date(),
    )
    sign_in(app_client, seeded, county.lead)
    page = app_client.get("/overdue").text
    row = page[page.index(f'href="/milestones/{first.line.view.milestone_id}"') :].split("</tr>")[0]
    assert '<span class="paused">暂停催办至 2025-06-05</span>: &lt;script&gt;等待资金&lt;/script&gt;' in row
    assert "<script>" not in page
    milestone = app_client.get(f"/milestones/{first.line.view.milestone_id}").text
    assert (
        '<dd id="paused"><span class="paused">暂停催办至 2025-06-05</span>: &lt;script&gt;等待资金&lt;/script&gt;</dd>'
        in milestone
    )
    # the scheduler never ran in this test: every other row says how many notices the rules owe
    assert page.count("（按规则应提醒") == len(_rest) > 0


def test_a_stop_of_the_planner_is_told_on_the_overview_and_overdue_pages_with_the_readers_reminders(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    """Rendered from the planning_gap rows the planner writes (scheduler/jobs.py): each reader is told the
    reminders of the plans they see; a stop that ended more than 30 days ago is no longer told."""
    for first, last, skipped in (
        (dt.date(2025, 4, 1), dt.date(2025, 5, 2), {HOME_PLAN: 3}),  # ended 31 days before today
        (dt.date(2025, 5, 10), dt.date(2025, 5, 25), {HOME_PLAN: 12, FOREIGN_PLAN: 5}),
        (dt.date(2025, 5, 28), dt.date(2025, 5, 31), {}),  # none of its send days were before the window
    ):
        record_gap(seeded, "plan", first, last, skipped, NOW)
    seeded.commit()
    home = "系统 2025-05-10 至 2025-05-25 未运行，期间 12 条提醒未发出。"
    quiet = "系统 2025-05-28 至 2025-05-31 未运行。"
    sign_in(app_client, seeded, county.coordinator)
    for path in ("/", "/overdue"):
        page = app_client.get(path).text
        assert re.findall(r'<p class="behind missed"[^>]*>(.*?)</p>', page) == [home, quiet], path
    foreign = TestClient(app_client.app)
    sign_in(foreign, seeded, county.foreign_coordinator)
    assert "系统 2025-05-10 至 2025-05-25 未运行，期间 5 条提醒未发出。" in foreign.get("/").text
    assert "2025-04-01" not in foreign.get("/overdue").text


def test_signing_out_ends_the_session(seeded: Session, county: County, app_client: TestClient) -> None:
    sign_in(app_client, seeded, county.lead)
    page = app_client.get("/").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    stolen_cookie = app_client.cookies[COOKIE]
    assert (
        app_client.post("/logout", data={"csrf": csrf}, follow_redirects=False).headers["location"]
        == "/login"
    )
    replay = TestClient(app_client.app, cookies={COOKIE: stolen_cookie})
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_unknown_and_foreign_ids_get_the_same_404(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    foreign_department = seeded.exec(select(Department).where(Department.region == "安丘市")).first()
    foreign_milestone = milestone_of(seeded, FOREIGN_PLAN, "（一）1")
    foreign_plan = plan_id(seeded, FOREIGN_PLAN)
    pages = [
        f"/plans/{foreign_plan}",
        "/plans/987654",
        "/plans/abc",
        f"/plans/{foreign_plan}/tongbao.docx",
        f"/departments/{foreign_department.id}",  # type: ignore[union-attr]
        "/departments/987654",
        f"/milestones/{foreign_milestone.id}",
        "/milestones/987654",
        f"/plans/{plan_id(seeded, HOME_PLAN)}?department={foreign_department.id}",  # type: ignore[union-attr]
        f"/plans/{plan_id(seeded, HOME_PLAN)}?state=bogus",
    ]
    answers = [app_client.get(path) for path in pages]
    assert {a.status_code for a in answers} == {404}
    assert {message(a.text) for a in answers} == {NOT_YOURS}
    assert len({a.text for a in answers}) == 1


def test_a_lead_reads_but_does_not_decide(seeded: Session, county: County, app_client: TestClient) -> None:
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    sign_in(app_client, seeded, county.lead)
    assert "待审" not in app_client.get("/").text and 'href="/pending"' not in app_client.get("/").text
    answer = app_client.get("/pending")
    assert answer.status_code == 403 and message(answer.text) == "抱歉，您无权使用此功能。"
    csrf = re.search(r'name="csrf" value="([^"]+)"', app_client.get("/").text).group(1)  # type: ignore[union-attr]
    assert app_client.post(f"/closeouts/{closeout_id}/approve", data={"csrf": csrf}).status_code == 403
    seeded.expire_all()
    assert seeded.get(CloseoutRequest, closeout_id).status == CloseoutStatus.pending  # type: ignore[union-attr]


def test_approving_needs_the_forms_csrf_token_and_queues_the_notice(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    closeout_id = request_closeout(
        seeded, county.contact, HOME_PLAN, "（二）", note="已完成，<script>alert(1)</script>"
    )
    sign_in(app_client, seeded, county.coordinator)
    page = app_client.get("/pending").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    forged = app_client.post(f"/closeouts/{closeout_id}/approve", data={"csrf": "forged"})
    assert forged.status_code == 403 and message(forged.text) == "表单已失效，请返回并刷新页面后重试。"
    assert seeded.exec(select(Notification).where(Notification.kind == "closeout_decided")).all() == []

    done = app_client.post(f"/closeouts/{closeout_id}/approve", data={"csrf": csrf})
    assert done.status_code == 200
    assert (
        f"申请 {closeout_id}（（二） 实施教育强镇筑基行动，2025-12-31到期）已批准，该节点已销号。"
        in done.text
    )
    assert '<p id="none-pending">没有待审批的销号申请。</p>' in done.text
    [notice] = seeded.exec(select(Notification).where(Notification.kind == "closeout_decided")).all()
    assert notice.contact_id == county.contact.id and said(seeded, notice).endswith(
        "的销号申请已批准。谢谢！"
    )

    twice = app_client.post(f"/closeouts/{closeout_id}/approve", data={"csrf": csrf})
    assert twice.status_code == 400 and message(twice.text) == "该销号申请已处理过。"


def test_rejecting_without_a_reason_changes_nothing(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    sign_in(app_client, seeded, county.coordinator)
    csrf = re.search(r'name="csrf" value="([^"]+)"', app_client.get("/pending").text).group(1)  # type: ignore[union-attr]
    answer = app_client.post(f"/closeouts/{closeout_id}/reject", data={"csrf": csrf, "reason": "  "})
    assert answer.status_code == 400 and message(answer.text) == "请填写驳回理由。"
    seeded.expire_all()
    assert seeded.get(CloseoutRequest, closeout_id).status == CloseoutStatus.pending  # type: ignore[union-attr]


def test_the_workbook_holds_only_the_readers_county(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.lead)
    answer = app_client.get("/ledger.xlsx")
    assert answer.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    workbook = load_workbook(io.BytesIO(answer.content))
    assert workbook.sheetnames == ["汇总", "淄博市淄川区"]  # the export's cover, then one sheet per plan
    cover = [
        str(cell.value) for row in workbook["汇总"].iter_rows() for cell in row if cell.value is not None
    ]
    assert "（共 1 个方案、" in cover[1]
    assert not any("安丘" in text for text in cover)  # the other county is neither counted nor named
    sheet = workbook["淄博市淄川区"]
    assert [c.value for c in sheet[1]][:4] == ["序号", "部分", "任务", "牵头部门"]
    assert sheet.max_row > 10


def test_the_web_ledger_lists_the_same_tasks_as_the_workbook_undated_ones_too(
    seeded: Session, county: County, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workbook has a row for a task the plan gives no date (淄川: 6 of 54); the page once left them out."""
    monkeypatch.setattr(data, "PAGE_SIZE", 10_000)  # every row on one page
    sign_in(app_client, seeded, county.lead)
    sheet = load_workbook(io.BytesIO(app_client.get("/ledger.xlsx").content))["淄博市淄川区"]
    in_workbook = {
        f"{ref} {title}" for ref, _part, title, *_rest in sheet.iter_rows(min_row=2, values_only=True)
    }
    undated = {
        f"{ref} {title}"
        for ref, _part, title, *rest in sheet.iter_rows(min_row=2, values_only=True)
        if rest[2] is None
    }

    page = app_client.get(f"/plans/{plan_id(seeded, HOME_PLAN)}").text
    dated_rows = re.findall(r'<td><a href="/milestones/\d+">([^<]+)</a></td>', page)
    undated_table = page[page.index('id="undated-tasks"') :]
    undated_rows = re.findall(r"<tr><td>([^<]+)</td>", undated_table)

    assert len(undated) == 6 and "无时间节点的任务（6 项）" in page
    assert {html.unescape(row) for row in undated_rows} == undated
    assert {html.unescape(row) for row in [*dated_rows, *undated_rows]} == in_workbook


def test_the_tongbao_download_is_a_word_document_for_the_plan(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    answer = app_client.get(f"/plans/{plan_id(seeded, HOME_PLAN)}/tongbao.docx")
    document = Document(io.BytesIO(answer.content))
    texts = [p.text for p in document.paragraphs if p.text]  # the 公文 keeps empty lines between its parts
    assert texts[0] == "关于《淄川区推进乡村教育振兴工作方案》推进情况的督查通报"
    assert "本期（2025年5月27日至2025年6月2日）" in texts[2]


def test_the_tongbao_download_is_signed_by_the_issuing_office_when_one_is_set(
    seeded: Session, county: County, engine: Engine, clock: list[dt.datetime]
) -> None:
    office = "淄博市淄川区教育和体育局督导室"
    with TestClient(build_web_app(engine, settings(issuing_office=office), lambda: clock[0])) as client:
        sign_in(client, seeded, county.coordinator)
        answer = client.get(f"/plans/{plan_id(seeded, HOME_PLAN)}/tongbao.docx")
    document = Document(io.BytesIO(answer.content))
    texts = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    assert texts[-2] == office  # 落款, above the 成文日期
    assert document.core_properties.author == office


def test_the_overdue_page_counts_notices_sent_and_says_the_leadership_was_told_only_when_it_was(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    """已提醒 N 次 counts messages sent; one held for the holiday (2025-06-02) is 待发送, and so is 催办."""
    plan_escalations(session=seeded, now=NOW, tz=ZoneInfo("Asia/Shanghai"), policy=EscalationPolicy())
    sign_in(app_client, seeded, county.lead)
    [entry, *_] = [e for e in data.overdue_entries(session=seeded, reader=county.lead, today=NOW.date())]
    assert entry.rung != "notice"

    def row() -> str:
        page = app_client.get("/overdue").text
        cells = page[page.index(f'href="/milestones/{entry.line.view.milestone_id}"') :].split("</tr>")[0]
        return re.sub(r"<[^>]*>", "", cells)  # as read

    assert "已提醒 0 次，另有 1 条待发送" in row()
    assert "催办：告知部门分管领导的消息待发送" in row() and "催办：已告知部门分管领导" not in row()
    for notice in seeded.exec(select(Notification).where(col(Notification.sent_at).is_(None))).all():
        notice.sent_at = NOW  # as the dispatcher records them
        seeded.add(notice)
    seeded.commit()
    assert "已提醒 1 次" in row() and "待发送" not in row() and "催办：已告知部门分管领导" in row()


def test_the_silent_page_lists_departments_nobody_joined_for_and_never_says_all_answered(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    page = app_client.get("/silent").text
    assert "所有部门均已回复" not in page and "收到提醒的部门都已回复最近一次提醒。" in page
    unreached = page[page.index('id="unreached"') :].split("</table>")[0]
    assert "区妇联" in unreached and "区教体局" not in unreached  # only 区教体局 has a contact


def test_every_page_renders_for_a_reader(seeded: Session, county: County, app_client: TestClient) -> None:
    sign_in(app_client, seeded, county.coordinator)
    home = plan_id(seeded, HOME_PLAN)
    milestone = milestone_of(seeded, HOME_PLAN, "（二）")
    department = seeded.exec(select(Department).where(Department.name == "区教体局")).one()
    expectations = {
        "/": "方案推进情况",
        f"/plans/{home}": "淄川区推进乡村教育振兴工作方案",
        f"/plans/{home}?year=2025&state=overdue": "已逾期",
        f"/departments/{department.id}": "区教体局",
        "/overdue": "已逾期的时间节点",
        "/silent": "收到提醒后尚未汇报的部门",
        "/pending": "待您审核的销号申请",
        f"/milestones/{milestone.id}": "实施教育强镇筑基行动",
    }
    for path, text in expectations.items():
        answer = app_client.get(path)
        assert answer.status_code == 200 and text in answer.text, path
    chart = app_client.get("/chart.png")
    assert chart.headers["content-type"] == "image/png" and chart.content.startswith(b"\x89PNG")


def test_a_withdrawn_milestone_is_off_the_lists_and_its_own_page_says_withdrawn(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    home = plan_id(seeded, HOME_PLAN)
    overdue = overdue_views(session=seeded, today=NOW.date(), plan_ids=[home])[0]
    milestone = seeded.get(Milestone, overdue.milestone_id)
    assert milestone is not None
    link = f'href="/milestones/{milestone.id}"'
    assert link in app_client.get("/overdue").text and link in app_client.get(f"/plans/{home}").text
    milestone.status = MilestoneStatus.withdrawn
    milestone.withdrawn_at = dt.datetime(2025, 6, 1, 2, tzinfo=dt.UTC)
    seeded.add(milestone)
    seeded.commit()
    assert link not in app_client.get("/overdue").text
    assert link not in app_client.get(f"/plans/{home}").text
    page = app_client.get(f"/milestones/{milestone.id}")
    assert page.status_code == 200
    assert '<dd id="withdrawn">已撤销：方案中已没有这个时间节点 (2025-06-01 10:00)</dd>' in page.text


def test_the_pager_keeps_the_filters(
    seeded: Session, county: County, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "PAGE_SIZE", 5)
    sign_in(app_client, seeded, county.lead)
    home = plan_id(seeded, HOME_PLAN)
    first = app_client.get(f"/plans/{home}?state=overdue")
    assert "第 1 页，共 4 页" in first.text
    next_page = re.search(r'<a href="([^"]+)" rel="next" id="next-page">', first.text).group(1)  # type: ignore[union-attr]
    assert next_page == f"/plans/{home}?state=overdue&amp;page=2"  # relative: never the Host header's
    second = app_client.get(next_page.replace("&amp;", "&"))
    assert "第 2 页，共 4 页" in second.text and second.text.count('class="state-overdue"') == 5
    assert app_client.get(f"/plans/{home}?state=overdue&page=5").status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://elsewhere.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.gov.example"},
        {"Origin": "https://elsewhere.example"},  # a browser without Fetch Metadata
    ],
)
def test_a_form_sent_from_another_site_is_refused_and_spends_nothing(
    seeded: Session, county: County, app_client: TestClient, headers: dict[str, str]
) -> None:
    """A page elsewhere cannot sign a coordinator's browser in as someone else, nor act in their session."""
    issued = issue_login_link(session=seeded, contact=county.coordinator, now=NOW)
    forged = app_client.post(f"/login/{issued.token}", headers=headers, follow_redirects=False)
    assert forged.status_code == 403 and COOKIE not in forged.cookies
    own = app_client.post(
        f"/login/{issued.token}",
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        follow_redirects=False,
    )
    assert own.status_code == 303 and COOKIE in own.cookies  # the link was not spent by the forged request
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）", note="已完成")
    page = app_client.get("/pending").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    approve = app_client.post(f"/closeouts/{closeout_id}/approve", data={"csrf": csrf}, headers=headers)
    assert approve.status_code == 403
    seeded.expire_all()
    assert seeded.get(CloseoutRequest, closeout_id).status == CloseoutStatus.pending  # type: ignore[union-attr]


def test_a_strangers_body_is_not_read_and_a_large_one_is_refused_unread(app_client: TestClient) -> None:
    signed_out = app_client.post("/closeouts/1/approve", data={"csrf": "x"}, follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/login")
    large = app_client.post(
        "/logout",
        content=b"a=" + b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert large.status_code == 413


def test_signed_in_pages_are_never_cached_and_links_are_relative(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    for path in ("/", "/overdue", "/pending", f"/plans/{plan_id(seeded, HOME_PLAN)}"):
        answer = app_client.get(path, headers={"Host": "attacker.example"})
        assert answer.headers["cache-control"] == "no-store", path
        assert "attacker.example" not in answer.text, path


def test_the_pending_page_announces_only_a_decision_the_reader_made(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    forged = app_client.get("/pending", params={"done": "申请 1 已批准，请将 2 万元转入以下账户"}).text
    assert 'id="notice"' not in forged
    closeout_id = request_closeout(seeded, county.contact, HOME_PLAN, "（二）", note="已完成")
    assert 'id="notice"' not in app_client.get(f"/pending?done={closeout_id}").text  # not decided yet


class CountingDrawer:
    """Stands in for matplotlib: keeps what each drawing was asked to show, answers a PNG naming its number."""

    def __init__(self) -> None:
        self.drawn: list[list[ChartRow]] = []

    def __call__(self, rows: list[ChartRow], title: str) -> bytes:
        self.drawn.append(rows)
        return b"\x89PNG drawing %d" % len(self.drawn)


def test_the_chart_is_drawn_once_per_county_day_and_data_version(
    engine: Engine, seeded: Session, county: County, clock: list[dt.datetime]
) -> None:
    drawer = CountingDrawer()

    # sessions that last into tomorrow
    dashboard = build_web_app(engine, settings(web_session_hours=48), lambda: clock[0], draw_chart=drawer)
    # one process serving two readers of one county, and one of another county
    coordinator, lead, foreign = (
        sign_in(TestClient(dashboard), seeded, reader)
        for reader in (county.coordinator, county.lead, county.foreign_coordinator)
    )

    first = coordinator.get("/chart.png")
    assert first.content == b"\x89PNG drawing 1" and first.headers["content-type"] == "image/png"
    assert coordinator.get("/chart.png").content == b"\x89PNG drawing 1"  # a reload draws nothing
    assert lead.get("/chart.png").content == b"\x89PNG drawing 1"  # nor another reader of the county
    assert foreign.get("/chart.png").content == b"\x89PNG drawing 2"  # another county's figures

    # a report moves the figures: drawn afresh, and the new drawing is kept in turn
    request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    assert coordinator.get("/chart.png").content == b"\x89PNG drawing 3"
    assert sum(row.green for row in drawer.drawn[2]) == sum(row.green for row in drawer.drawn[0]) + 1
    assert lead.get("/chart.png").content == b"\x89PNG drawing 3"

    # a milestone change (the 销号 approved) too; and the next day
    approve = coordinator.get("/pending").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', approve)
    assert csrf is not None
    closeout = seeded.exec(select(CloseoutRequest)).one()
    answer = coordinator.post(
        f"/closeouts/{closeout.id}/approve", data={"csrf": csrf.group(1)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert coordinator.get("/chart.png").content == b"\x89PNG drawing 4"
    assert sum(row.done for row in drawer.drawn[3]) == sum(row.done for row in drawer.drawn[2]) + 1
    clock[0] += dt.timedelta(days=1)
    assert coordinator.get("/chart.png").content == b"\x89PNG drawing 5"
    assert coordinator.get("/chart.png").content == b"\x89PNG drawing 5"
    assert len(drawer.drawn) == 5


def test_the_overview_overdue_and_ledger_pages_say_when_their_figures_were_computed(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    sign_in(app_client, seeded, county.coordinator)
    for path in ("/", "/overdue", f"/plans/{plan_id(seeded, HOME_PLAN)}"):
        page = app_client.get(path).text
        # NOW is 02:00 UTC: 10:00 in the county
        assert '<p class="hint as-of" id="as-of">数据截至 2025-06-02 10:00（Asia/Shanghai）</p>' in page, path


def test_the_sign_in_pages_say_a_link_can_come_without_the_chat(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    issued = issue_login_link(session=seeded, contact=county.coordinator, now=NOW)
    app_client.post(f"/login/{issued.token}")
    app_client.cookies.clear()
    for path in ("/login", f"/login/{issued.token}"):  # signed out; a link used already
        page = app_client.get(path).text
        assert (
            '<p class="hint" id="operator-hint">没有聊天账号？可请运行督办的管理员在服务器上用 duban web link '
            "生成登录链接。</p>"
        ) in page, path
