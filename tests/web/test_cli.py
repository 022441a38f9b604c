"""`duban web` and `duban tongbao`: bad input is one Chinese line and a non-zero exit, before anything is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.cli import main
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
