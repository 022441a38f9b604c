"""The dashboard in a real headless browser: Debian's chromium driven by selenium through /usr/bin/chromedriver.

One story, as a coordinator lives it: a contact files a 销号 request in chat, the coordinator sends /web, opens the
link, sees their own county only, filters the 台账, approves the request (the contact's notice is queued),
downloads the workbook and the 通报 and opens both, then finds that the link does not work twice and that another
county's pages do not exist. Screenshots of the overview and the plan page are kept in test-artifacts/web/.

Skipped locally without chromium; with CI=true a missing browser fails the run (.ci/run installs it).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from docx import Document
from openpyxl import load_workbook
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import Engine
from sqlmodel import Session, select

from duban.config import Settings
from models import ContactRole, Department, Notification
from tests.bot.conftest import NOW, FakeUser, build_harness
from tests.ci import unavailable
from tests.web.conftest import (
    FOREIGN_PLAN,
    HOME_PLAN,
    County,
    milestone_of,
    plan_id,
    request_closeout,
    said,
)
from tests.zones import DEFAULT_TZ
from web.app import build_web_app
from web.evidence import EvidenceSources

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CONTACT = FakeUser(1001)
COORDINATOR = FakeUser(2002)
FOREIGN_COORDINATOR = FakeUser(9002)
NOT_YOURS = "页面不存在，或您无权查看。"
PHONE_WIDTH = 390


def _browser_or_skip() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    reason = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
    unavailable(f"browser tests: {reason}")


@contextlib.contextmanager
def _serving(evidence: EvidenceSources | None, engine: Engine) -> Iterator[str]:
    """The dashboard on a real port, in a thread. The socket listens before the thread starts, so the browser's
    first request waits in the backlog instead of racing the start-up."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    app = build_web_app(engine, Settings(web_base_url=base), lambda: NOW, evidence=evidence)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()


@pytest.fixture
def live_server(engine: Engine, seeded: Session) -> Iterator[str]:
    with _serving(None, engine) as base:
        yield base


def _chromium(tmp_path: Path, *, phone: bool = False) -> webdriver.Chrome:
    """Headless chromium, a desktop window or (phone) a 390 px wide phone's screen, downloads into tmp_path."""
    _browser_or_skip()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / ('phone-profile' if phone else 'chromium-profile')}",
    ):
        options.add_argument(flag)
    if phone:  # Chrome's device emulation: the page lays out in a 390 px viewport, as on an iPhone 12-15
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": PHONE_WIDTH, "height": 844, "pixelRatio": 2}}
        )
    downloads = tmp_path / "downloads"
    downloads.mkdir(exist_ok=True)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.downloads = downloads  # type: ignore[attr-defined]
    return driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = _chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = _chromium(tmp_path, phone=True)
    try:
        yield driver
    finally:
        driver.quit()


def _downloaded(driver: webdriver.Chrome, suffix: str) -> Path:
    """The finished download (Chrome writes .crdownload until it is done), waited for by selenium's own wait."""
    folder: Path = driver.downloads  # type: ignore[attr-defined]

    def finished(_: object) -> Path | None:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        return done[0] if done and not any(p.name.endswith(".crdownload") for p in folder.iterdir()) else None

    return WebDriverWait(driver, 30).until(finished)


def _message(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.ID, "message").text)


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


async def test_a_coordinator_works_through_the_dashboard(
    engine: Engine,
    seeded: Session,
    live_server: str,
    browser: webdriver.Chrome,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DUBAN_WEB_BASE_URL", live_server)  # the links /web hands out point at this server
    harness = build_harness(engine, tmp_path)
    await harness.app.initialize()
    try:
        contact = harness.join(CONTACT, "区教体局")
        harness.join(COORDINATOR, "区教体局", ContactRole.coordinator)
        harness.join(FOREIGN_COORDINATOR, "市教体局", ContactRole.coordinator, region="安丘市")
        harness.reminder_sent_to(contact, HOME_PLAN, "（二）", telegram_message_id=777)
        assert (
            "已向督办人员提交销号申请（申请编号 1）。"
            in (await harness.say(CONTACT, "已完成", reply_to=777))[0]
        )
        [answer] = await harness.say(COORDINATOR, "/web")
        link = answer.splitlines()[-1]
        assert link.startswith(f"{live_server}/login/")
    finally:
        await harness.app.shutdown()
    assert harness.errors == []

    # sign in: the link shows a button; pressing it opens the session and lands on the overview
    browser.get(link)
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{live_server}/")
    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.plan h2")]
    assert titles == ["淄川区推进乡村教育振兴工作方案"]
    assert "安丘" not in browser.page_source
    _screenshot(browser, "overview.png")
    browser.set_window_size(412, 915)  # a phone's width: one column, tables scroll sideways inside the page
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 412
    _screenshot(browser, "overview-phone.png")
    browser.set_window_size(1280, 900)

    # the 台账, filtered to overdue milestones of one year
    home = plan_id(seeded, HOME_PLAN)
    browser.find_element(By.LINK_TEXT, "淄川区推进乡村教育振兴工作方案").click()
    all_rows = len(browser.find_elements(By.CSS_SELECTOR, "#ledger tbody tr"))
    Select(browser.find_element(By.ID, "filter-state")).select_by_visible_text("已逾期")
    browser.find_element(By.ID, "apply-filters").click()
    WebDriverWait(browser, 10).until(lambda d: "state=overdue" in d.current_url)
    states = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#ledger tbody td.state")]
    assert states and set(states) == {"已逾期"} and len(states) < all_rows
    assert browser.find_element(By.ID, "row-count").text == f"共 {len(states)} 个时间节点"
    _screenshot(browser, "plan.png")

    # the 通报 of this plan, and the county's workbook
    browser.find_element(By.LINK_TEXT, "下载督查通报（docx）").click()
    document = Document(str(_downloaded(browser, ".docx")))
    assert [p.text for p in document.paragraphs if p.text][
        0
    ] == "关于《淄川区推进乡村教育振兴工作方案》推进情况的督查通报"
    browser.find_element(By.LINK_TEXT, "下载台账（xlsx）").click()
    workbook = load_workbook(_downloaded(browser, ".xlsx"))
    assert workbook.sheetnames == ["汇总", "淄博市淄川区"]

    # approve the 销号 request; the contact's notice waits in the outbox
    browser.get(f"{live_server}/pending")
    assert "实施教育强镇筑基行动" in browser.find_element(By.ID, "closeout-1").text
    browser.find_element(By.ID, "approve-1").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "notice"))
    assert browser.find_element(By.ID, "notice").text == (
        "申请 1（（二） 实施教育强镇筑基行动，2025-12-31到期）已批准，该节点已销号。"
    )
    assert browser.find_element(By.ID, "none-pending").text == "没有待审批的销号申请。"
    with Session(engine) as session:
        [notice] = session.exec(
            select(Notification).where(
                Notification.kind == "closeout_decided", Notification.contact_id == contact.id
            )
        ).all()
        assert said(session, notice) == "您对 （二） 实施教育强镇筑基行动 的销号申请已批准。谢谢！"
        assert notice.sent_at is None

    # another county's ids are pages that do not exist, like ids that do not exist at all
    foreign_department = seeded.exec(select(Department).where(Department.region == "安丘市")).first()
    assert foreign_department is not None
    for path in (
        f"/plans/{plan_id(seeded, FOREIGN_PLAN)}",
        f"/milestones/{milestone_of(seeded, FOREIGN_PLAN, '（一）1').id}",
        f"/departments/{foreign_department.id}",
        "/plans/987654",
        f"/plans/{home}?department={foreign_department.id}",
    ):
        browser.get(live_server + path)
        assert _message(browser) == NOT_YOURS, path

    # sign out, then the same link again: it has been used
    browser.get(f"{live_server}/")
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{live_server}/login")
    browser.get(link)
    assert _message(browser) == "此登录链接已被使用；每个链接只能登录一次。"
    assert not browser.find_elements(By.ID, "sign-in")
    browser.get(f"{live_server}/")
    assert re.search(r"/login$", browser.current_url)


# what a contact's two evidence files did to a coordinator's browser before evidence was served as data: the SVG,
# opened from /pending, loaded the script from the dashboard's own origin, which read the CSRF token and approved
# the contact's own 销号 request
ATTACK_JS = (
    "fetch('/pending').then(r => r.text()).then(page => {"
    ' const csrf = page.match(/name="csrf" value="([^"]+)"/)[1];'
    " return fetch('/closeouts/1/approve', {method: 'POST',"
    " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'csrf=' + encodeURIComponent(csrf)});"
    "}).then(() => { document.title = 'approved by the evidence'; });"
)


@pytest.mark.parametrize("channel", ["telegram", "dingtalk"])
async def test_evidence_that_carries_script_does_nothing_in_a_coordinators_browser(
    engine: Engine, seeded: Session, browser: webdriver.Chrome, tmp_path: Path, channel: str
) -> None:
    from bot.core.evidence import EvidenceFile
    from duban.services.invites import create_invite, redeem_invite, resolve_department
    from duban.services.progress import attach_evidence, record_report
    from duban.services.web_login import issue_login_link
    from models import CloseoutRequest, ReportStatus
    from tests.web.test_evidence import DingTalkFiles, Platform
    from web.evidence import DingTalkEvidence

    def joined(role: ContactRole, user: int):  # type: ignore[no-untyped-def]
        department = resolve_department(session=seeded, name="区教体局", region="淄博市淄川区")
        issued = create_invite(
            session=seeded, department=department, role=role, now=NOW, ttl=dt.timedelta(days=7)
        )
        return redeem_invite(
            session=seeded, token=issued.token, telegram_user_id=user, language="zh_CN", now=NOW
        )

    contact, coordinator = joined(ContactRole.contact, 1001), joined(ContactRole.coordinator, 2002)
    milestone_id = milestone_of(seeded, HOME_PLAN, "（二）").id or 0
    record_report(
        session=seeded,
        contact=contact,
        milestone_id=milestone_id,
        status=ReportStatus.done,
        percent=100,
        note="",
        now=NOW,
        tz=DEFAULT_TZ,
    )
    prefix = "dingtalk:" if channel == "dingtalk" else ""
    # the script as evidence on another milestone; the SVG naming it on the request's own report
    script = attach_evidence(
        session=seeded,
        contact=contact,
        milestone_id=milestone_of(seeded, HOME_PLAN, "（三）").id or 0,
        file_id=f"{prefix}js",
        now=NOW,
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><script href="/evidence/{script.id}"/></svg>'.encode()
    attach_evidence(
        session=seeded, contact=contact, milestone_id=milestone_id, file_id=f"{prefix}svg", now=NOW
    )
    if channel == "dingtalk":
        sources = EvidenceSources(
            dingtalk=DingTalkEvidence(DingTalkFiles({"js": ATTACK_JS.encode(), "svg": svg}))
        )
    else:
        platform = Platform()
        platform.files = {
            "js": EvidenceFile(ATTACK_JS.encode(), "text/javascript", "x.js"),
            "svg": EvidenceFile(svg, "image/svg+xml", "y.svg"),
        }
        sources = EvidenceSources(telegram=platform)

    with _serving(sources, engine) as base:
        link = issue_login_link(session=seeded, contact=coordinator, now=NOW).link(base)
        browser.get(link)
        browser.find_element(By.ID, "sign-in").click()
        WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{base}/")
        browser.get(f"{base}/pending")
        browser.find_element(By.LINK_TEXT, "📎 查看佐证材料").click()  # the request's evidence: the SVG

        # the file arrives as a download; no page of the dashboard's origin is made of it
        _downloaded(browser, "")
        browser.get(f"{base}/evidence/{script.id}")
        WebDriverWait(browser, 30).until(lambda d: len(list(d.downloads.iterdir())) == 2)  # type: ignore[attr-defined]
        browser.get(f"{base}/pending")
        assert browser.find_element(By.ID, "closeout-1")  # still waiting for a coordinator's decision

    seeded.expire_all()
    assert seeded.exec(select(CloseoutRequest)).one().status == "pending"


# --- the dashboard on a phone: 390 px, every page ------------------------------------------------------------------

# every element that reaches past either edge of the screen, as "tag#id.class left..right"
WIDER_THAN_THE_SCREEN = """
const width = document.documentElement.clientWidth;
const wide = [];
for (const element of document.querySelectorAll('body *')) {
  const box = element.getBoundingClientRect();
  if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
    const id = element.id ? '#' + element.id : '';
    const cls = typeof element.className === 'string' && element.className ? '.' + element.className : '';
    wide.push(`${element.tagName.toLowerCase()}${id}${cls} ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
}
return [width, document.documentElement.scrollWidth, wide];
"""
# a department name laid out on more than one line (an inline box broken across lines has several rectangles)
BROKEN_NAMES = "return [...document.querySelectorAll('.dept')].filter(e => e.getClientRects().length > 1).map(e => e.textContent);"


def _whole_page(driver: webdriver.Chrome, path: Path) -> None:
    """A screenshot of the whole page, below the fold too (Chrome's DevTools call), for a person to look at."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def _fits_a_phone(driver: webdriver.Chrome, name: str, screenshots: Path) -> None:
    """Nothing wider than the 390 px screen, no department name broken inside; the page kept as a screenshot."""
    _whole_page(driver, screenshots / f"{name}.png")
    width, scroll_width, wide = driver.execute_script(WIDER_THAN_THE_SCREEN)
    assert width == PHONE_WIDTH, name
    assert wide == [] and scroll_width <= PHONE_WIDTH, (name, wide)
    assert driver.execute_script(BROKEN_NAMES) == [], name


def _card_texts(driver: webdriver.Chrome, table: str) -> list[str]:
    """The table's rows as a phone shows them: its head hidden, each row a block (a card) of labelled lines."""
    assert not driver.find_element(By.CSS_SELECTOR, f"#{table} thead").is_displayed()
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    assert {driver.execute_script("return getComputedStyle(arguments[0]).display", r) for r in rows} == {
        "block"
    }
    return [str(r.text) for r in rows]


def test_every_page_fits_a_phone_with_one_card_per_milestone(
    engine: Engine, seeded: Session, county: County, phone: webdriver.Chrome, tmp_path: Path
) -> None:
    from duban.services.progress import record_report
    from duban.services.web_login import issue_login_link
    from models import ReportStatus

    screenshots = tmp_path / "phone-screenshots"
    screenshots.mkdir()
    print(f"phone screenshots: {screenshots}")
    reported = milestone_of(seeded, HOME_PLAN, "（三）")
    record_report(
        session=seeded,
        contact=county.contact,
        milestone_id=reported.id or 0,
        status=ReportStatus.at_risk,
        percent=40,
        note="资金尚未全部到位，进度可能滞后。已与区财政局对接，预计下月拨付到位后恢复施工。" * 3,
        now=NOW,
        tz=DEFAULT_TZ,
    )
    closeout = request_closeout(seeded, county.contact, HOME_PLAN, "（二）")
    home = plan_id(seeded, HOME_PLAN)

    with _serving(None, engine) as base:
        link = issue_login_link(session=seeded, contact=county.coordinator, now=NOW).link(base)
        phone.get(link)
        _fits_a_phone(phone, "sign-in", screenshots)
        phone.find_element(By.ID, "sign-in").click()
        WebDriverWait(phone, 10).until(lambda d: d.current_url == f"{base}/")
        _fits_a_phone(phone, "overview", screenshots)
        [*departments, total] = _card_texts(phone, "plan-" + str(home) + " table")
        assert total.startswith("合计") and "已逾期：17" in total and "已销号：0" in total

        phone.get(f"{base}/plans/{home}")
        _fits_a_phone(phone, "ledger", screenshots)
        card = next(text for text in _card_texts(phone, "ledger") if "（三）" in text)
        for label in ("牵头：区教体局", "完成时限：", "状态：", "最新汇报：存在风险 40%"):
            assert label in card, card

        phone.get(f"{base}/overdue")
        _fits_a_phone(phone, "overdue", screenshots)
        assert all("逾期天数：" in text and "牵头：" in text for text in _card_texts(phone, "overdue"))

        for name, path in (
            ("silent", "/silent"),
            ("milestone", f"/milestones/{reported.id}"),
            ("department", f"/departments/{county.contact.department_id}"),
        ):
            phone.get(base + path)
            _fits_a_phone(phone, name, screenshots)

        phone.get(f"{base}/pending")
        _fits_a_phone(phone, "pending", screenshots)
        approve = phone.find_element(By.ID, f"approve-{closeout}").rect
        reason = phone.find_element(By.ID, f"reason-{closeout}").rect
        reject = phone.find_element(By.ID, f"reject-{closeout}").rect
        # 批准 on a line of its own, well above the reason and 驳回 (no thumb lands on one aiming at the other)
        assert approve["y"] + approve["height"] + 24 <= reason["y"] <= reject["y"]
    assert sorted(p.name for p in screenshots.iterdir()) == [
        f"{name}.png"
        for name in sorted(
            ("sign-in", "overview", "ledger", "overdue", "silent", "milestone", "department", "pending")
        )
    ]


def test_the_link_duban_demo_web_prints_opens_the_dashboard(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """What a newcomer does: one command, then the link it prints, in a browser; Ctrl-C stops it in one piece."""
    with socket.socket() as probe:  # a free port (released for the command to take)
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "TELEGRAM_"))}
    command = [sys.executable, "-m", "duban.cli", "demo", "--web", "--listen", base.removeprefix("http://")]
    demo = subprocess.Popen(
        command,
        cwd=tmp_path,  # var/demo.db is made here, and no developer's .env is read
        env={**environment, "PYTHONPATH": str(ROOT), "DUBAN_LANGUAGE": "zh_CN"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = threading.Timer(180, demo.kill)  # a demo that hangs fails the test instead of blocking it
    deadline.start()
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line.rstrip("\n"))
            if line.startswith(f"{base}/login/"):
                break
        link = printed[-1]
        assert link.startswith(f"{base}/login/"), printed[-5:]
        assert printed[-3] == f"演示网页端：{base}/（数据库 var/demo.db），按 Ctrl-C 停止。"
        assert printed[-2].startswith("打开下面的链接，以演示协调员（淄博市淄川区 ")

        browser.get(link)
        browser.find_element(By.ID, "sign-in").click()
        WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{base}/")
        titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.plan h2")]
        assert titles == ["淄川区推进乡村教育振兴工作方案"]
        assert browser.find_element(By.ID, "as-of").text.startswith("数据截至 ")
        assert browser.find_element(By.ID, "reader").text == "演示协调员 · 督办人员"  # who is signed in
        _screenshot(browser, "demo-overview.png")
        browser.get(f"{base}/pending")  # the sample history's 销号 requests wait for the demo coordinator
        assert browser.find_elements(By.CSS_SELECTOR, "section.closeout")

        demo.send_signal(signal.SIGINT)  # Ctrl-C: the requests under way finish, then the exit Ctrl-C means
        assert demo.wait(timeout=30) == 130
        assert demo.stderr is not None
        assert "Traceback" not in demo.stderr.read()
    finally:
        deadline.cancel()
        if demo.poll() is None:
            demo.kill()
        demo.wait()
        for stream in (demo.stdout, demo.stderr):
            if stream is not None:
                stream.close()
    assert (tmp_path / "var" / "demo.db").exists() and not (tmp_path / "var" / "duban.db").exists()
