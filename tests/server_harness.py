"""A real nanocomplete server on a free loopback port, run in a background thread for tests."""

from __future__ import annotations

import httpx

from nanocomplete.completion import Settings
from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT, IndexConfig, ServerConfig
from nanocomplete.server import BackgroundServer, create_app, free_port
from nanocomplete.service import CompletionService
from nanocomplete.telemetry import EventStore

__all__ = ["RunningServer", "free_port"]


class RunningServer(BackgroundServer):
    def __init__(
        self,
        engine,
        tmp_path,
        settings: Settings | None = None,
        config: ServerConfig | None = None,
        index: IndexConfig = IndexConfig(),
    ):
        self.config = config or ServerConfig(port=free_port())
        events = EventStore(tmp_path / "telemetry.sqlite3", self.config.store_code_in_telemetry)
        self.service = CompletionService(
            engine,
            "test-model",
            settings or Settings(prompt=SERVING_PROMPT, postprocess=SERVING_POSTPROCESS),
            server=self.config,
            events=events,
            index=index,
        )
        super().__init__(create_app(self.service, self.config), self.config.port)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 120), **kwargs)
