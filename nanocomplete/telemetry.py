"""Local telemetry: editor events in a SQLite database and request metrics for Prometheus.

Nothing leaves the machine. Events record sizes and timings; completion text is stored only when the user
opts in (`store_code_in_telemetry`). The database lives in the XDG state directory unless told otherwise.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import platformdirs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nanocomplete.api import Event

LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20)
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    request_id TEXT,
    kind TEXT NOT NULL,
    language TEXT,
    shown_chars INTEGER,
    accepted_chars INTEGER,
    retained_chars INTEGER,
    after_s REAL,
    latency_ms REAL,
    text TEXT
)
"""


MAX_EVENTS = 200_000  # rows kept; older ones are deleted as new ones come (~150 bytes each without code)
# with store_code_in_telemetry, only the newest this many events keep their text (at most 10,000 characters
# each, `api.Event.text`): ~50 MB, where 200,000 events' text could take 2 GB of disk
MAX_EVENTS_WITH_TEXT = 5_000


def default_database() -> Path:
    return Path(platformdirs.user_state_dir("nanocomplete")) / "telemetry.sqlite3"


class EventStore:
    def __init__(self, path: Path, store_code: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.store_code = store_code
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._connection.execute(SCHEMA)
        self._lock = threading.Lock()
        self._text_cleared_to_id = 0  # events up to this id have had their text cleared (this process)

    def add(self, events: list[Event]) -> int:
        rows = [
            (
                time.time(), e.request_id, e.kind, e.language, e.shown_chars, e.accepted_chars,
                e.retained_chars, e.after_s, e.latency_ms, e.text if self.store_code else None,
            )
            for e in events
        ]  # fmt: skip
        with self._lock, self._connection:
            self._connection.executemany(
                "INSERT INTO events (received_at, request_id, kind, language, shown_chars, accepted_chars,"
                " retained_chars, after_s, latency_ms, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            newest = self._connection.execute("SELECT MAX(id) FROM events").fetchone()[0] or 0
            self._connection.execute("DELETE FROM events WHERE id <= ?", (newest - MAX_EVENTS,))
            if self.store_code and newest - MAX_EVENTS_WITH_TEXT > self._text_cleared_to_id:
                self._connection.execute(
                    "UPDATE events SET text = NULL WHERE id > ? AND id <= ? AND text IS NOT NULL",
                    (self._text_cleared_to_id, newest - MAX_EVENTS_WITH_TEXT),
                )
                self._text_cleared_to_id = newest - MAX_EVENTS_WITH_TEXT
        return len(rows)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._connection.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall()
        return dict(rows)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class Metrics:
    """Prometheus metrics of this server (a private registry: several servers can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "nanocomplete_completion_latency_seconds", "completion latency, prompt + generation + queue",
            buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "nanocomplete_requests", "requests by endpoint and outcome", ["endpoint", "outcome"], registry=r
        )
        self.tokens_evaluated = Counter(
            "nanocomplete_prompt_tokens_evaluated", "prompt tokens evaluated", registry=r
        )
        self.tokens_reused = Counter(
            "nanocomplete_prompt_tokens_reused", "prompt tokens reused from the KV cache", registry=r
        )
        self.tokens_generated = Counter("nanocomplete_tokens_generated", "tokens generated", registry=r)
        self.cache = Counter("nanocomplete_cache", "completions by cache outcome", ["outcome"], registry=r)
        self.events = Counter("nanocomplete_events", "editor events by kind", ["kind"], registry=r)
        self.tiers = Counter(
            "nanocomplete_tier_completions", "completions by the tier that answered and why (tier_reason)",
            ["tier", "reason"], registry=r,
        )  # fmt: skip
        self.tier_asked = Counter(
            "nanocomplete_tier_asked",
            "completion and warm-up requests by the `tier` they asked for (server: none, --tier applies)",
            ["endpoint", "tier"], registry=r,
        )  # fmt: skip
        self.tier_ms_per_token = Gauge(
            "nanocomplete_tier_ms_per_token", "a tier's measured cost (moving average): prompt or generation",
            ["tier", "phase"], registry=r,
        )  # fmt: skip
        self.cache_hit_ratio = Gauge(
            "nanocomplete_prompt_cache_hit_ratio", "share of prompt tokens reused since start", registry=r
        )
        self.acceptance_ratio = Gauge(
            "nanocomplete_acceptance_ratio", "accepted (fully or partly) / shown since start", registry=r
        )
        self._reused = self._evaluated = 0
        self._shown = self._accepted = 0

    def observe_completion(self, timings, cache_outcome: str) -> None:
        self.cache.labels(cache_outcome).inc()
        if timings is None:
            return
        self.latency.observe(timings.total_ms / 1000)
        self.tokens_evaluated.inc(timings.prompt_tokens_evaluated)
        self.tokens_reused.inc(timings.prompt_tokens_reused)
        self.tokens_generated.inc(timings.tokens_generated)
        self._evaluated += timings.prompt_tokens_evaluated
        self._reused += timings.prompt_tokens_reused
        total = self._evaluated + self._reused
        self.cache_hit_ratio.set(self._reused / total if total else 0.0)

    def observe_events(self, events: list[Event]) -> None:
        for event in events:
            self.events.labels(event.kind).inc()
            self._shown += event.kind == "shown"
            self._accepted += event.kind in ("accepted", "partially_accepted")
        self.acceptance_ratio.set(self._accepted / self._shown if self._shown else 0.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
