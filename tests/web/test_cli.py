"""`duban web` and `duban tongbao`: bad input is one Chinese line and a non-zero exit, before anything is opened."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url
from sqlmodel import Session, select
from starlette.testclient import TestClient

from duban.cli import main
from duban.db import make_engine
from models import AuditEntry, Contact, ContactRole, WebLogin
from models.people import channel_of
from tests.web.conftest import County, join, settings
from web import cli as web_cli
from web.app import build_web_app
from web.cli import host_and_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8443", ("::1", 8443)),
        (":8080", ("127.0.0.1", 8080)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert host_and_port(text) == expected


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    return err.strip()


@pytest.mark.parametrize("listen", ["localhost", "8080", "host:0", "host:70000", "host:http"])
def test_a_bad_listen_address_is_one_line(
    cli_env: str, listen: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    line = _refused(["web", "--listen", listen], capsys)
    assert (
        line
        == f"duban web：参数 --listen：“{listen}”不是 主机:端口，应写作 127.0.0.1:8443 这样（用法见 duban web --help）"
    )


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (
            ["--output", "out.txt"],
            "参数 --output：“out.txt”不是 Word 文件名，请以 .docx 结尾，例如 督查通报.docx",
        ),
        (["--output", "missing/out.docx"], "参数 --output：文件夹“missing”不存在"),
        (["--output", "."], "参数 --output：“.”不是 Word 文件名"),
        (["--output", "out.docx", "--date", "2025-02-30"], "参数 --date：“2025-02-30”不是可用的日期"),
    ],
)
def test_a_bad_tongbao_argument_is_one_line(
    cli_env: str,
    arguments: list[str],
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    line = _refused(["tongbao", "--plan", "zibo-zichuan-2023", *arguments], capsys)
    assert line.startswith("duban tongbao：") and says in line
    assert list(tmp_path.iterdir()) == []  # no database, no document


def test_web_and_tongbao_refuse_a_database_that_does_not_exist(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    for argv in (["web"], ["tongbao", "--plan", "zibo-zichuan-2023", "--output", "out.docx"]):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "duban seed" in err
        assert list(tmp_path.iterdir()) == []


def test_run_checks_the_dashboards_address_and_refuses_a_second_dashboard(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    line = _refused(["run", "--web-listen", "nonsense"], capsys)
    assert line.startswith("duban run：参数 --web-listen：“nonsense”不是 主机:端口")
    argv = ["run", "--webhook-url", "https://bot.example.gov.cn", "--web-listen", "127.0.0.1:8080"]
    assert main(argv) == 1
    assert capsys.readouterr().err == "使用 --webhook-url 时看板已在 --listen 上提供，请去掉 --web-listen\n"


# --- `duban web link`: the chat's /web for an operator at the server -------------------------------------------

BASE = "https://duban.example.gov.cn"


@pytest.fixture
def linked(cli_env: str, seeded: Session, monkeypatch: pytest.MonkeyPatch) -> County:
    """The CLI on the seeded database, its dashboard at BASE; 淄川's people and 安丘's coordinator."""
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    monkeypatch.setenv("DUBAN_WEB_BASE_URL", BASE)
    return County(
        coordinator=join(seeded, "区教体局", ContactRole.coordinator, 2002),
        lead=join(seeded, "区财政局", ContactRole.lead, 3003),
        contact=join(seeded, "区教体局", ContactRole.contact, 1001),
        foreign_coordinator=join(seeded, "市教体局", ContactRole.coordinator, 9002, region="安丘市"),
        foreign_contact=join(seeded, "市教体局", ContactRole.contact, 9001, region="安丘市"),
    )


def _link_of(out: str) -> str:
    *_before, link = out.splitlines()
    assert link.startswith(f"{BASE}/login/")
    return link


def test_web_link_prints_a_link_that_signs_the_coordinator_in_and_is_audited_like_the_chats(
    linked: County, engine: Engine, seeded: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    number = linked.coordinator.id
    assert main(["web", "link", "--coordinator", str(number)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0] == (
        f"未填姓名（区教体局，督办人员，编号 {number}）的网页端登录链接，仅限本人使用，只能使用一次，10 分钟内有效："
    )
    link = _link_of(out)
    with TestClient(
        build_web_app(engine, settings(web_base_url=BASE), lambda: dt.datetime.now(dt.UTC)),
        base_url=BASE,  # the cookie is Secure behind https
    ) as client:
        path = link.removeprefix(BASE)
        assert client.post(path, follow_redirects=False).status_code == 303
        assert "淄川区推进乡村教育振兴工作方案" in client.get("/").text
    entry = seeded.exec(select(AuditEntry).where(AuditEntry.action == "web_link")).one()
    assert entry.contact_id == number
    assert entry.detail.startswith(
        f"duban web link --coordinator {number} ("
    )  # the operator's account follows


def test_web_link_finds_the_one_reader_of_a_department_or_a_county(
    linked: County, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["web", "link", "--department", "区财政局", "--region", "淄博市淄川区"]) == 0
    out = capsys.readouterr().out
    assert f"（区财政局，分管领导，编号 {linked.lead.id}）" in out.splitlines()[0]
    _link_of(out)
    assert main(["web", "link", "--region", "安丘市"]) == 0
    assert f"（市教体局，督办人员，编号 {linked.foreign_coordinator.id}）" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--coordinator", "999"], "没有编号为 999 的联络人。请用 duban contacts list 查看编号"),
        (["--coordinator", "{contact}"], "联络人 {contact} 是部门联络员；网页端只对督办人员和分管领导开放"),
        (
            ["--region", "淄博市淄川区"],
            "淄博市淄川区有多位督办人员或分管领导（编号 {coordinator}、{lead}）；请用 --coordinator 编号 选定一位",
        ),
        (
            ["--department", "区财政局"],
            "“区财政局”在多个县区都有：济南市长清区、淄博市淄川区。请用 --region 指明",
        ),
        (["--department", "区档案"], "没有找到部门“区档案”。请写出完整名称"),
        (
            ["--department", "区科技局", "--region", "淄博市淄川区"],
            "区科技局没有可使用的督办人员或分管领导；可用 duban invite --role coordinator 邀请",
        ),
        ([], "请指明是谁：--coordinator 编号（编号见 duban contacts list），或 --department 部门"),
    ],
)
def test_web_link_refuses_in_one_line_and_issues_nothing(
    linked: County, seeded: Session, arguments: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = {"contact": linked.contact.id, "coordinator": linked.coordinator.id, "lead": linked.lead.id}
    argv = ["web", "link", *(a.format(**numbers) for a in arguments)]
    assert main(argv) == 1
    assert capsys.readouterr() == ("", says.format(**numbers) + "\n")
    assert seeded.exec(select(WebLogin)).all() == []


def test_web_link_refuses_a_deactivated_reader(linked: County, capsys: pytest.CaptureFixture[str]) -> None:
    number = linked.coordinator.id
    assert main(["contacts", "deactivate", str(number)]) == 0
    capsys.readouterr()
    assert main(["web", "link", "--coordinator", str(number)]) == 1
    assert capsys.readouterr().err == f"联络人 {number} 已无使用权限（已撤销）\n"


def test_web_link_needs_the_dashboards_address(
    linked: County, seeded: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_WEB_BASE_URL")
    assert main(["web", "link", "--coordinator", str(linked.coordinator.id)]) == 1
    assert capsys.readouterr() == (
        "",
        "未设置 DUBAN_WEB_BASE_URL：登录链接须指向网页端的地址，即 duban run 或 duban web 提供网页端的那个地址，"
        "例如 DUBAN_WEB_BASE_URL=https://duban.example.gov.cn\n",
    )
    assert seeded.exec(select(WebLogin)).all() == []


# --- `duban demo --web` and which database `duban web` reads -----------------------------------------------------


class Served:
    """Stands in for uvicorn: keeps the app and the socket the command would serve."""

    def __init__(self) -> None:
        self.app: object = None
        self.address: tuple[str, int] | None = None

    def __call__(self, app: object, listening: socket.socket) -> None:
        self.app, self.address = app, listening.getsockname()[:2]
        listening.close()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    serving = Served()
    monkeypatch.setattr(web_cli, "_serve", serving)
    return serving


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_web_serves_the_demo_database_with_a_link_signed_in_as_the_demo_coordinator(
    cli_env: str, served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    monkeypatch.setenv("DUBAN_WEB_SECURE_COOKIE", "true")  # the operator's setting for the real dashboard
    port = _free_port()
    assert (
        main(["demo", "--database", "var/demo.db", "--no-history", "--web", "--listen", f"127.0.0.1:{port}"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    base = f"http://127.0.0.1:{port}"
    assert lines[-4:-1] == [
        f"演示网页端：{base}/（数据库 var/demo.db），按 Ctrl-C 停止。",
        "打开下面的链接，以演示协调员（淄博市淄川区 区教体局，为演示虚构的督办人员）身份登录；只能使用一次，10 分钟内有效：",
        lines[-2],
    ]
    link = lines[-2]
    assert link.startswith(f"{base}/login/")
    assert lines[-1].startswith(
        f"需要新链接时，在另一个终端运行：DUBAN_DATABASE_URL=sqlite:///var/demo.db DUBAN_WEB_BASE_URL={base} "
        "duban web link --coordinator "
    )
    assert served.address == ("127.0.0.1", port)
    with TestClient(served.app, base_url=base) as browser:  # type: ignore[arg-type]
        assert browser.post(link.removeprefix(base), follow_redirects=False).status_code == 303
        overview = browser.get("/")
    assert "淄川区推进乡村教育振兴工作方案" in overview.text and "安丘" not in overview.text
    with Session(make_engine("sqlite:///var/demo.db")) as session:
        [coordinator] = session.exec(select(Contact).where(Contact.name == "演示协调员")).all()
        assert coordinator.role == ContactRole.coordinator and channel_of(coordinator) is None
    assert not Path("var/duban.db").exists()  # the operator's database is not touched


def test_demo_web_on_an_address_in_use_is_one_line_and_leaves_the_demo_as_it_was(
    cli_env: str,
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    earlier = tmp_path / "demo.db"
    earlier.write_bytes(b"an earlier demo")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["demo", "--database", str(earlier), "--web", "--listen", address]) == 1
    assert capsys.readouterr() == (
        "",
        f"{address} 已被其他程序占用（另一个 duban web 或 duban run？）；请用 --listen 换一个地址\n",
    )
    assert earlier.read_bytes() == b"an earlier demo" and served.app is None


def test_demo_without_web_says_how_to_see_it_in_a_browser(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_LANGUAGE", raising=False)
    assert main(["demo", "--database", "demo.db", "--no-history"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n在浏览器中查看这些数据：duban demo --web（网页端使用演示数据库 demo.db）。\n")


def test_web_says_which_database_it_serves(
    linked: County, cli_env: str, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    assert main(["web", "--listen", f"127.0.0.1:{port}"]) == 0
    url = make_url(cli_env)
    # a SQLite file by its path (`duban demo` writes another one), a server's URL without its password
    database = (
        url.database if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)
    )
    assert capsys.readouterr().err == (
        f"督办网页端：http://127.0.0.1:{port}/（数据库 {database}；登录链接：在聊天中发送 /web，或运行 duban web link）\n"
    )
    assert served.address == ("127.0.0.1", port)


def test_web_on_an_address_in_use_is_one_line(
    linked: County, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["web", "--listen", address]) == 1
    assert capsys.readouterr() == (
        "",
        f"{address} 已被其他程序占用（另一个 duban web 或 duban run？）；请用 --listen 换一个地址\n",
    )
    assert served.app is None
