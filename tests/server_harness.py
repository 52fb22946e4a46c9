"""A real nanocomplete server on a free loopback port, run in a background thread for tests."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn

from nanocomplete.completion import Settings
from nanocomplete.config import ServerConfig
from nanocomplete.server import create_app
from nanocomplete.service import CompletionService
from nanocomplete.telemetry import EventStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    def __init__(
        self, engine, tmp_path, settings: Settings | None = None, config: ServerConfig | None = None
    ):
        self.config = config or ServerConfig(port=free_port())
        events = EventStore(tmp_path / "telemetry.sqlite3", self.config.store_code_in_telemetry)
        self.service = CompletionService(
            engine, "test-model", settings or Settings(), server=self.config, events=events
        )
        app = create_app(self.service, self.config)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.config.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.config.port}"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 120), **kwargs)
