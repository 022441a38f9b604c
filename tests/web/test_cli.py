"""`duban web`: a bad --listen is one line and a non-zero exit, before anything starts."""

from __future__ import annotations

import pytest

from duban.cli import main
from web.cli import parse_listen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8443", ("::1", 8443)),
        ("8080", None),
        (":8080", None),
        ("host:0", None),
        ("host:70000", None),
        ("host:８０", None),
        ("host:http", None),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_listen(text) == expected


def test_a_bad_listen_address_is_one_line(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--listen", "localhost"]) == 2
    assert capsys.readouterr().err == "--listen 应为 主机:端口，例如 127.0.0.1:8080（收到“localhost”）。\n"
