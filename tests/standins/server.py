"""Serve a Starlette app on 127.0.0.1 (a free port) in a thread of its own, so the test's loop stays free."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette


class ThreadedServer:
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="websockets-sansio")
        server = self._server = uvicorn.Server(config)

        def serve() -> None:
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name="standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)  # the server thread binds; this is setup, not the test's clock
        assert server.started, "the stand-in did not start"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
