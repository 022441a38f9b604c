"""`duban run` stopped while it is still importing: the signal is remembered, and the process stops with its one
line and exit 0 once the imports are done (an exception raised from the handler would land inside an import)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from duban import launch


def test_a_signal_while_starting_is_remembered_not_raised() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with launch.deferred_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to this thread before the next line runs
        assert launch.stop_requested()
    assert not launch.stop_requested()
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_run_stopped_while_importing_says_one_line_and_exits_0(
    signum: signal.Signals, cli_env: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DUBAN_", "TELEGRAM_"))},
        "DUBAN_DATABASE_URL": cli_env,
        "TELEGRAM_BOT_TOKEN": "123456:not-a-real-token",
    }
    # -X importtime writes a line as each module is imported: SQLAlchemy's come after duban.launch took the
    # signals, while duban.cli is still being imported, which is when the signal is sent
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "duban", "run"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "sqlalchemy" in line:
            process.send_signal(signum)
            break
    rest = process.stderr.read()
    process.wait(timeout=60)
    said = [line for line in (lines + rest.splitlines(keepends=True)) if not line.startswith("import time:")]
    assert said == ["督办已停止。\n"]
    assert process.returncode == 0
