"""IDE replay v2: seeded editing sessions (`typist`) over repositories the model has not seen, sent over
HTTP to real servers, one arm after another on the same sessions:

- served: our server exactly as `serve` runs it (the serving settings, per-file KV snapshots, the result
  cache, workspace context), driven like Dash drives it (`/v1/warm` when a file becomes active, then
  `/v1/complete`);
- naive: the same server without KV reuse across requests (the full prompt every time). Its suggestions
  are the served arm's by construction, so it replays a seeded sample of the served arm's own requests,
  for latency only, paired request by request;
- peer: llama.cpp's own `llama-server` on the same GGUF, started as llama.vscode's README starts it for
  CPUs and driven with llama.vscode's requests and rules (`peer`).

Each arm gets the same acceptance rule (`typist.accepted_prefix`). Intervals are 95% bootstrap intervals
over visits (a visit is one stretch of typing in one file: requests within it are not independent); arm
differences resample the same visits in both arms (paired).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from nanocomplete import peer, typist
from nanocomplete.typist import Answer, Document, Record, Session

ARMS = ("served", "naive", "peer")
REQUESTS_FILE = "requests.jsonl.gz"  # an arm's request records, one JSON object a line
OLD_REQUESTS_FILE = "requests.jsonl"  # the same, uncompressed (replays before 2026-12-04)
LANGUAGE_SUFFIXES = {"python": (".py",), "typescript": (".ts", ".tsx")}
RESAMPLES = 2000
# the parts of a request's latency that the records keep (api.Timings; llama-server's `timings`)
SERVED_TIMINGS = ("queue_ms", "prompt_ms", "generation_ms", "tokens_generated", "warm_share_tokens")
PEER_TIMINGS = ("prompt_ms", "predicted_ms", "predicted_n")


@dataclass(frozen=True)
class Repo:
    name: str  # "package version" or a local folder
    language: str  # a key of LANGUAGE_SUFFIXES
    files: dict[str, str]
    suffixes: tuple[str, ...]  # of the files the typist writes in
    visits: int | None = None  # only the session's first visits (a shorter run)


# --- arms ------------------------------------------------------------------------------------------------


class ServedArm:
    """Dash's requests to our server; keeps each request body for the naive arm's replay."""

    def __init__(self, client: httpx.Client, root: Path):
        self.client, self.root = client, root
        self.bodies: list[dict] = []

    def activate(self, document: Document) -> None:
        self.client.post("/v1/warm", json=self._body(document)).raise_for_status()

    def complete(self, document: Document) -> Answer:
        body = self._body(document)
        self.bodies.append(body)
        return served_answer(self.client, body)

    def _body(self, document: Document) -> dict:
        return {
            "uri": (self.root / document.path).as_uri(),
            "text": document.text,
            "cursor": {"line": document.line, "character": document.character},
            "workspace_root": str(self.root),
        }


def served_answer(client: httpx.Client, body: dict) -> Answer:
    started = time.perf_counter()
    response = client.post("/v1/complete", json=body)
    latency_ms = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    answer = response.json()
    timings = answer.get("timings") or {}
    cache = answer.get("cache", "none") + ("+cold" if answer.get("cold_prompt") else "")
    cache += "+window" if answer.get("prefix_window_moved") else ""
    return Answer(
        answer.get("completion", ""), latency_ms, timings.get("prompt_tokens_evaluated", 0),
        timings.get("prompt_tokens", 0), cache, cache != "result_cache", True,
        (answer.get("confidence") or {}).get("mean_logprob"), answer.get("tier", ""),
        {k: timings[k] for k in SERVED_TIMINGS if k in timings},
    )  # fmt: skip


class PeerArm:
    """llama.vscode's client against a llama-server (`peer`): its inputs, ring, result cache and filters."""

    def __init__(self, client: httpx.Client, seed: int):
        self.client = client
        self.ring = peer.Ring(random.Random(seed))
        self.cache = peer.ResultCache()
        self.edited: set[str] = set()  # files with unsaved changes (the typist never saves)
        self.active: Document | None = None

    def activate(self, document: Document) -> None:
        if self.active is not None:
            left = self.active
            self.ring.pick_around_cursor(
                left.text.split("\n"), left.line, left.path, left.path in self.edited
            )
        self.ring.pick_around_cursor(
            document.text.split("\n"), document.line, document.path, document.path in self.edited
        )
        self.active = document
        for _ in range(2):  # the user pauses a few seconds on a switch: ring updates run meanwhile
            if self.ring.update():
                self.client.post("/infill", json=peer.ring_update_body(self.ring.chunks)).raise_for_status()

    def complete(self, document: Document) -> Answer:
        self.active = document
        self.edited.add(document.path)
        lines = document.text.split("\n")
        inputs = peer.fim_inputs(lines, document.line, _column(lines[document.line], document.character))
        if inputs is None:
            return Answer("", 0.0, requested=False, model_answered=False, cache="not_requested")
        started = time.perf_counter()
        cached = self.cache.get(inputs)
        if cached is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            return Answer(cached[0] if cached else "", latency_ms, cache="client_cache", model_answered=False)
        response = self.client.post("/infill", json=peer.infill_body(inputs, self.ring.chunks))
        latency_ms = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        data = response.json()
        shown = [
            s
            for c in peer.completions_of(data)
            if (s := peer.shown_suggestion(c, lines, document.line, inputs)) is not None
        ]
        if shown:
            self.cache.put(inputs, shown)
        self.ring.after_completion(lines, document.line, document.path)
        first = data[0] if isinstance(data, list) and data else data
        timings = first.get("timings") or {} if isinstance(first, dict) else {}
        return Answer(
            shown[0] if shown else "", latency_ms, int(timings.get("prompt_n", 0)),
            int(first.get("tokens_evaluated", 0)) if isinstance(first, dict) else 0, "kv_cache_reuse",
            timings={k: timings[k] for k in PEER_TIMINGS if k in timings},
        )  # fmt: skip


def _column(line: str, utf16_character: int) -> int:
    """The Python index of a UTF-16 column."""
    count = 0
    for index, char in enumerate(line):
        if count >= utf16_character:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(line)


# --- servers ---------------------------------------------------------------------------------------------


class LlamaServer:
    """llama.cpp's `llama-server` on a loopback port, started with `peer.SERVER_FLAGS`."""

    def __init__(self, binary: Path, model: Path, threads: int, adapter: Path | None = None, seed: int = 0):
        from nanocomplete.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
            "--threads", str(threads), "--seed", str(seed), *peer.SERVER_FLAGS,
            *(["--lora", str(adapter)] if adapter else []),
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    def __enter__(self) -> LlamaServer:
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited: see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"llama-server did not become ready in 120 s: see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def llama_server_binary(python: str = ".venv/bin/python") -> Path:
    """The cached `llama-server` built from the llama.cpp that our llama-cpp-python vendors (built once by
    scripts/build_llama_server.sh, ~10 min on 2 cores; then seconds)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "build_llama_server.sh"
    done = subprocess.run([str(script), python], check=True, stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().split("\n")[-1])


# --- one repository --------------------------------------------------------------------------------------


def prepare_workspace(
    files: dict[str, str], regions: list[typist.Region], parent: Path | None = None
) -> Path:
    """The repository on disk with every region removed (nothing the typist will type is there to find)."""
    root = Path(tempfile.mkdtemp(prefix="nanocomplete-replay-", dir=parent))
    for path, text in files.items():
        lines = text.split("\n")
        for region in sorted((r for r in regions if r.path == path), key=lambda r: -r.start):
            del lines[region.start : region.start + region.lines]
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines), encoding="utf-8")
    return root


@dataclass
class ArmRun:
    """One arm's session on one repository."""

    repo: str
    language: str
    session: Session


def replay_served(
    service_factory: Callable,
    repo: Repo,
    seed: int,
    log: Callable,
    workspaces: Path | None = None,
    habits: typist.Habits = typist.AS_EDITORS_DO,
) -> tuple[ArmRun, list[dict]]:
    """The served arm on `repo`; returns the run and the request bodies it sent. The workspace (the
    repository with the regions removed) is made under `workspaces` and left there for the naive arm, or
    in a temporary folder removed at the end when `workspaces` is None."""
    from nanocomplete.server import BackgroundServer, create_app

    regions, script = typist.plan_session(repo.files, repo.suffixes, seed, repo.visits)
    root = prepare_workspace(repo.files, regions, workspaces)
    try:
        service, config = service_factory(reuse_kv=True)
        service.workspaces.get(str(root))  # the editor opens the folder: indexing starts
        _wait_for_index(service, root)
        with (
            BackgroundServer(create_app(service, config), config.port) as server,
            httpx.Client(base_url=server.url, timeout=600) as client,
        ):
            arm = ServedArm(client, root)
            session = typist.Typist(repo.files, regions, seed, habits).run(script, arm, log)
        return ArmRun(f"{repo.name} #{seed}", repo.language, session), arm.bodies
    finally:
        if workspaces is None:
            shutil.rmtree(root, ignore_errors=True)


def replay_peer(
    url: str, repo: Repo, seed: int, log: Callable, habits: typist.Habits = typist.AS_EDITORS_DO
) -> ArmRun:
    regions, script = typist.plan_session(repo.files, repo.suffixes, seed, repo.visits)
    with httpx.Client(base_url=url, timeout=600) as client:
        session = typist.Typist(repo.files, regions, seed, habits).run(script, PeerArm(client, seed), log)
    return ArmRun(f"{repo.name} #{seed}", repo.language, session)


def replay_naive(
    service_factory: Callable, bodies: list[dict], served: list[Record], log: Callable
) -> list[dict]:
    """The sampled served requests again, on a server without KV reuse: per request, both latencies."""
    from nanocomplete.server import BackgroundServer, create_app

    service, config = service_factory(reuse_kv=False)
    for root in sorted({body["workspace_root"] for body in bodies}):
        service.workspaces.get(root)  # the same context as the served arm: the workspace indexed first
        _wait_for_index(service, Path(root))
    pairs = []
    with (
        BackgroundServer(create_app(service, config), config.port) as server,
        httpx.Client(base_url=server.url, timeout=600) as client,
    ):
        for body, record in zip(bodies, served, strict=True):
            answer = served_answer(client, body)
            pairs.append(
                {
                    "kind": record.kind,
                    "served_latency_ms": record.latency_ms,
                    "naive_latency_ms": answer.latency_ms,
                    "served_evaluated": record.prompt_tokens_evaluated,
                    "naive_evaluated": answer.prompt_tokens_evaluated,
                    "served_prompt_tokens": record.prompt_tokens,
                    "naive_prompt_tokens": answer.prompt_tokens,
                    "same_completion": answer.completion == record.completion,
                }
            )
            log(None)
    return pairs


def naive_sample(
    runs: list[tuple[ArmRun, list[dict]]], size: int, seed: int
) -> tuple[list[dict], list[Record]]:
    """A seeded sample of the served requests the model answered (a result-cache answer costs nothing in
    either configuration)."""
    candidates = [
        (body, record)
        for run, bodies in runs
        for body, record in zip(bodies, run.session.records, strict=True)
        if record.model_answered
    ]
    chosen = random.Random(seed).sample(candidates, min(size, len(candidates)))
    return [b for b, _ in chosen], [r for _, r in chosen]


def _wait_for_index(service, root: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = service.workspaces.get(str(root))
        if found is not None and found.passes and not found.running:
            return
        time.sleep(0.1)


# --- metrics ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One visit of one repository's session: the bootstrap's resampling unit."""

    key: str  # "repo#visit"
    records: tuple[Record, ...]
    typed_chars: int
    accepted_chars: int


def units(runs: Sequence[ArmRun]) -> list[Unit]:
    out = []
    for run in runs:
        for visit, typed in sorted(run.session.typed_chars_by_visit.items()):
            records = tuple(r for r in run.session.records if r.visit == visit)
            out.append(
                Unit(f"{run.repo}#{visit}", records, typed, run.session.accepted_chars_by_visit[visit])
            )
    return out


@dataclass(frozen=True)
class Frame:
    """Units as arrays: one entry per request (with its unit's index) and one per unit. A bootstrap draw
    is a weight per unit (how often it was drawn), so no draw copies a record."""

    unit: np.ndarray  # per request: index of its unit
    kind: np.ndarray
    latency_ms: np.ndarray
    evaluated: np.ndarray
    requested: np.ndarray
    answered: np.ndarray  # by the model (not a result cache)
    shown: np.ndarray
    accepted: np.ndarray
    typed_chars: np.ndarray  # per unit
    accepted_chars: np.ndarray  # per unit

    @classmethod
    def of(cls, unit_list: Sequence[Unit]) -> Frame:
        rows = [(i, r) for i, u in enumerate(unit_list) for r in u.records]

        def column(get, dtype=float):
            return np.array([get(r) for _, r in rows], dtype=dtype)

        return cls(
            np.array([i for i, _ in rows], dtype=int), column(lambda r: r.kind, object),
            column(lambda r: r.latency_ms), column(lambda r: r.prompt_tokens_evaluated),
            column(lambda r: r.requested, bool), column(lambda r: r.requested and r.model_answered, bool),
            column(lambda r: r.requested and bool(r.completion), bool),
            column(lambda r: r.requested and r.accepted_chars > 0, bool),
            np.array([u.typed_chars for u in unit_list], dtype=float),
            np.array([u.accepted_chars for u in unit_list], dtype=float),
        )  # fmt: skip

    def only(self, kind: str) -> Frame:
        """The requests of one kind (the per-unit counts stay whole)."""
        keep = self.kind == kind
        per_request = (
            self.unit, self.kind, self.latency_ms, self.evaluated, self.requested, self.answered, self.shown,
            self.accepted,
        )  # fmt: skip
        return Frame(*(column[keep] for column in per_request), self.typed_chars, self.accepted_chars)


Statistic = Callable[[Frame, np.ndarray], float]  # (frame, weight per unit) -> value


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Nearest rank (as `metrics.p95`) over values repeated by their integer weights."""
    keep = weights > 0
    if not keep.any():
        return float("nan")
    order = np.argsort(values[keep], kind="stable")
    ordered, cumulative = values[keep][order], np.cumsum(weights[keep][order])
    rank = min(int(cumulative[-1]) - 1, int(q / 100 * cumulative[-1]))
    return float(ordered[np.searchsorted(cumulative, rank, side="right")])


def _percentile_of(column: str, mask: str, q: float) -> Statistic:
    def statistic(f: Frame, w: np.ndarray) -> float:
        return _weighted_percentile(getattr(f, column), w[f.unit] * getattr(f, mask), q)

    return statistic


STATISTICS: dict[str, Statistic] = {
    "requests": lambda f, w: float((w[f.unit] * f.requested).sum()),
    "shown": lambda f, w: float((w[f.unit] * f.shown).sum()),
    "accepted_share": lambda f, w: _ratio((w[f.unit] * f.accepted).sum(), (w[f.unit] * f.shown).sum()),
    "accepted_chars_per_100_typed": lambda f, w: (
        100 * _ratio((w * f.accepted_chars).sum(), (w * f.typed_chars).sum())
    ),
    "latency_ms_p50": _percentile_of("latency_ms", "requested", 50),
    "latency_ms_p95": _percentile_of("latency_ms", "requested", 95),
    "latency_ms_p99": _percentile_of("latency_ms", "requested", 99),
    "model_latency_ms_p50": _percentile_of("latency_ms", "answered", 50),
    "model_latency_ms_p95": _percentile_of("latency_ms", "answered", 95),
    "model_latency_ms_p99": _percentile_of("latency_ms", "answered", 99),
    "evaluated_tokens_p50": _percentile_of("evaluated", "answered", 50),
    "evaluated_tokens_p95": _percentile_of("evaluated", "answered", 95),
}
KIND_STATISTICS = ("requests", "accepted_share", "latency_ms_p50", "latency_ms_p95", "evaluated_tokens_p50")
LABELS = {  # the report's words for the statistics and request kinds
    "requests": "requests",
    "shown": "suggestions shown",
    "accepted_share": "share of shown accepted",
    "accepted_chars_per_100_typed": "accepted chars per 100 typed",
    "latency_ms_p50": "latency p50, ms",
    "latency_ms_p95": "latency p95, ms",
    "latency_ms_p99": "latency p99, ms",
    "model_latency_ms_p50": "model-answered latency p50, ms",
    "model_latency_ms_p95": "model-answered latency p95, ms",
    "model_latency_ms_p99": "model-answered latency p99, ms",
    "evaluated_tokens_p50": "prompt tokens evaluated p50",
    "evaluated_tokens_p95": "prompt tokens evaluated p95",
    "mid_line": "mid-line",
    "new_line": "new line",
    "first_in_file": "first in a file",
    "return_to_file": "return to a file",
    "after_jump": "after a jump",
}


def _ratio(a: float, b: float) -> float:
    """a / b, nan when b is 0 (a statistic with nothing to count is undefined, not zero)."""
    return float(a / b) if b else float("nan")


def _draws(units_count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.bincount(rng.integers(0, units_count, units_count), minlength=units_count)
        for _ in range(RESAMPLES)
    ]


def interval(
    unit_list: Sequence[Unit], statistic: Statistic, seed: int = 0, frame: Frame | None = None
) -> dict:
    """The statistic with a 95% percentile bootstrap interval, resampling units."""
    f = frame or Frame.of(unit_list)
    value = statistic(f, np.ones(len(unit_list)))
    draws = [statistic(f, w) for w in _draws(len(unit_list), seed)] if unit_list else []
    low, high = _bounds(draws)
    return {"value": value, "low": low, "high": high, "units": len(unit_list)}


def paired_ratio(a: Sequence[Unit], b: Sequence[Unit], statistic: Statistic, seed: int = 0) -> dict:
    """statistic(a) / statistic(b) with a 95% bootstrap interval, resampling the units both arms share."""
    by_key_a, by_key_b = {u.key: u for u in a}, {u.key: u for u in b}
    keys = sorted(set(by_key_a) & set(by_key_b))
    fa, fb = Frame.of([by_key_a[k] for k in keys]), Frame.of([by_key_b[k] for k in keys])
    ones = np.ones(len(keys))
    value = _ratio(statistic(fa, ones), statistic(fb, ones))
    draws = [_ratio(statistic(fa, w), statistic(fb, w)) for w in _draws(len(keys), seed)] if keys else []
    low, high = _bounds(draws)
    return {"value": value, "low": low, "high": high, "units": len(keys)}


def _bounds(draws: list[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the bootstrap draws that are defined (nan when none is)."""
    defined = [d for d in draws if d == d]
    if not defined:
        return (float("nan"), float("nan"))
    low, high = np.percentile(defined, [2.5, 97.5])
    return (float(low), float(high))


def summarise(unit_list: Sequence[Unit]) -> dict:
    f = Frame.of(unit_list)
    summary: dict = {name: interval(unit_list, statistic, frame=f) for name, statistic in STATISTICS.items()}
    summary["by_kind"] = {
        kind: {name: interval(unit_list, STATISTICS[name], frame=f.only(kind)) for name in KIND_STATISTICS}
        for kind in typist.REQUEST_KINDS
    }
    return summary


def tier_summary(runs: Sequence[ArmRun]) -> dict:
    """Per tier that answered (served arms with two tiers), per request kind: the requests it answered
    (model or result cache), the share of them shown, of those shown accepted, and the latency p50."""
    grouped: dict = {}
    for record in (r for run in runs for r in run.session.records if r.requested and r.tier):
        for kind in (record.kind, "all"):
            grouped.setdefault(record.tier, {}).setdefault(kind, []).append(record)
    return {
        tier: {kind: _tier_cell(rows) for kind, rows in kinds.items()}
        for tier, kinds in sorted(grouped.items())
    }


def _tier_cell(rows: list[Record]) -> dict:
    shown = [r for r in rows if r.completion]
    return {
        "requests": len(rows),
        "shown_share": len(shown) / len(rows),
        "accepted_share_of_shown": float(np.mean([r.accepted_chars > 0 for r in shown]))
        if shown
        else float("nan"),
        "latency_ms_p50": float(np.median([r.latency_ms for r in rows])),
    }


def naive_summary(pairs: list[dict]) -> dict:
    """Latency of the naive arm against the served arm on the same requests (paired, per request)."""
    if not pairs:
        return {}
    served = np.array([p["served_latency_ms"] for p in pairs])
    naive = np.array([p["naive_latency_ms"] for p in pairs])
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(RESAMPLES):
        picked = rng.integers(0, len(pairs), len(pairs))
        draws.append(np.median(naive[picked]) / np.median(served[picked]))
    low, high = np.percentile(draws, [2.5, 97.5])
    ratio = {"value": float(np.median(naive) / np.median(served)), "low": float(low), "high": float(high)}
    return {
        "requests": len(pairs),
        "naive_latency_ms_p50": float(np.median(naive)),
        "served_latency_ms_p50": float(np.median(served)),
        "naive_evaluated_tokens_p50": float(np.median([p["naive_evaluated"] for p in pairs])),
        "served_evaluated_tokens_p50": float(np.median([p["served_evaluated"] for p in pairs])),
        "p50_ratio_naive_over_served": ratio,
        "same_completion_share": float(np.mean([p["same_completion"] for p in pairs])),
    }  # fmt: skip


def records(runs: Sequence[ArmRun]) -> list[dict]:
    return [
        {"repo": run.repo, "language": run.language, **asdict(r)} for run in runs for r in run.session.records
    ]


def visit_rows(unit_list: Sequence[Unit]) -> list[dict]:
    """One row per visit in `results.jsonl` form, so that `nanocomplete compare` pairs two arms by visit."""
    rows = []
    for u in unit_list:
        requested = [r for r in u.records if r.requested]
        rows.append(
            {
                "id": u.key,
                "error": None,
                "scores": {
                    "accepted_chars_per_100_typed": 100 * _ratio(u.accepted_chars, u.typed_chars)
                    if u.typed_chars
                    else 0.0,
                    "latency_ms_median": float(np.median([r.latency_ms for r in requested]))
                    if requested
                    else 0.0,
                    "evaluated_tokens_median": float(
                        np.median([r.prompt_tokens_evaluated for r in requested])
                    )
                    if requested
                    else 0.0,
                    "accepted_share": _ratio(sum(r.accepted_chars > 0 for r in requested), len(requested))
                    if requested
                    else 0.0,
                    "typed_chars": u.typed_chars,
                    "accepted_chars": u.accepted_chars,
                },
            }
        )
    return rows


# --- report ----------------------------------------------------------------------------------------------


def cell(value: dict, whole: bool = False) -> str:
    v, lo, hi = value["value"], value["low"], value["high"]
    if v != v:  # nan
        return "–"
    digits = 0 if whole or abs(v) >= 10 else 2
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def table(summaries: dict[str, dict]) -> str:
    """Arms side by side: every statistic with its interval, then per request kind."""
    names = list(summaries)
    rows = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key in STATISTICS:
        count = key in ("requests", "shown") or "_ms_" in key or "tokens" in key
        rows.append(f"| {LABELS[key]} | " + " | ".join(cell(summaries[n][key], count) for n in names) + " |")
    for kind in typist.REQUEST_KINDS:
        for key in KIND_STATISTICS:
            whole = key == "requests" or "_ms_" in key or "tokens" in key
            cells = [cell(summaries[n]["by_kind"][kind][key], whole) for n in names]
            rows.append(f"| {LABELS[kind]}: {LABELS[key]} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_arm(out: Path, name: str, runs: Sequence[ArmRun], summary: dict) -> Path:
    """An arm's run directory: summary.json, the raw requests, and per-visit rows for `compare`."""
    directory = out / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").write_text(json.dumps(summary, indent=1))
    lines = "".join(json.dumps(r) + "\n" for r in records(runs)).encode()
    (directory / REQUESTS_FILE).write_bytes(gzip.compress(lines, mtime=0))  # ~10x smaller, reproducible
    rows = visit_rows(units(runs))
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


# --- the benchmark ---------------------------------------------------------------------------------------


def run(
    repos: Sequence[Repo],
    arms: Sequence[str],
    service_factory: Callable,
    peer_server: Callable[[], LlamaServer] | None,
    out: Path,
    seed: int = 0,
    naive_requests: int = 60,
    sessions_per_repo: int = 1,
    habits: typist.Habits = typist.AS_EDITORS_DO,
) -> dict:
    """Every arm on every repository's sessions (seeds `seed`, `seed` + 1, ...); writes each arm's directory
    under `out` and returns the summaries (per language and overall) and the ratios the last lines print.
    `habits`: the typist's pace and editor (`typist.Habits`)."""
    sessions = [(repo, seed + n) for repo in repos for n in range(sessions_per_repo)]
    workspaces = Path(tempfile.mkdtemp(prefix="nanocomplete-replay-"))  # kept until the naive arm ran
    progress = _Progress()
    try:
        served_runs = [
            replay_served(
                service_factory,
                repo,
                session_seed,
                progress.start(f"served · {repo.name} #{session_seed}"),
                workspaces,
                habits,
            )
            for repo, session_seed in sessions
            if "served" in arms
        ]
        peer_runs = (
            _replay_peer_arm(peer_server, sessions, progress, habits)
            if "peer" in arms and peer_server
            else []
        )
        result: dict = {
            "seeds": [seed + n for n in range(sessions_per_repo)],
            "repos": [f"{r.name} ({r.language})" for r in repos],
            "habits": {k: v for k, v in dataclasses.asdict(habits).items() if k != "sleep"},
            "arms": {},
        }
        by_arm = {"served": [run for run, _ in served_runs], "peer": peer_runs}
        for name, runs in by_arm.items():
            if runs:
                result["arms"][name] = {
                    language: summarise(units([r for r in runs if r.language == language]))
                    for language in sorted({r.language for r in runs})
                }
                result["arms"][name]["all"] = summarise(units(runs))
                write_arm(out, name, runs, result["arms"][name])
        if len(tiers := tier_summary(by_arm["served"])) > 1:
            result["tiers"] = tiers
        if "naive" in arms and served_runs:
            bodies, sampled = naive_sample(served_runs, naive_requests, seed)
            pairs = replay_naive(
                service_factory, bodies, sampled, progress.start(f"naive · {len(bodies)} requests")
            )
            result["naive"] = naive_summary(pairs)
            (out / "naive").mkdir(parents=True, exist_ok=True)
            (out / "naive" / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    finally:
        shutil.rmtree(workspaces, ignore_errors=True)
    if served_runs and peer_runs:
        result["served_over_peer"] = ratios(units(by_arm["served"]), units(peer_runs))
    (out / "replay.json").write_text(json.dumps(result, indent=1))
    return result


def _replay_peer_arm(
    peer_server: Callable[[], LlamaServer], sessions: list, progress, habits: typist.Habits
) -> list[ArmRun]:
    with peer_server() as server:
        return [
            replay_peer(
                server.url,
                repo,
                session_seed,
                progress.start(f"peer · {repo.name} #{session_seed}"),
                habits,
            )
            for repo, session_seed in sessions
        ]


def has_requests(arm_dir: Path) -> bool:
    """Whether `arm_dir` is a served or peer arm's folder: it holds `requests.jsonl.gz` (replays since
    2026-12-04) or `requests.jsonl` (before)."""
    return any((arm_dir / name).is_file() for name in (REQUESTS_FILE, OLD_REQUESTS_FILE))


def read_requests(arm_dir: Path) -> list[dict]:
    """An arm's request records in order (`requests.jsonl.gz`, or the plain `requests.jsonl` of replays
    before 2026-12-04). Raises FileNotFoundError when it has neither."""
    if (arm_dir / REQUESTS_FILE).is_file():
        text = gzip.decompress((arm_dir / REQUESTS_FILE).read_bytes()).decode("utf-8")
    else:
        text = (arm_dir / OLD_REQUESTS_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def arm_units(arm_dir: Path) -> list[Unit]:
    """An arm's visits read back from its request records (`read_requests`) and `results.jsonl` (runs
    before the `typed_chars` column: typed characters from the visit's accepted characters and their
    rate, unknown where nothing was accepted)."""
    from nanocomplete.typist import Record

    fields = Record.__dataclass_fields__
    by_visit: dict[str, list] = {}
    for row in read_requests(arm_dir):
        record = Record(**{k: v for k, v in row.items() if k in fields})
        by_visit.setdefault(f"{row['repo']}#{row['visit']}", []).append(record)
    scores = {}
    for line in (arm_dir / "results.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        scores[row["id"]] = row["scores"]
    out = []
    for key, records in sorted(by_visit.items()):
        score = scores.get(key, {})
        accepted = sum(r.accepted_chars for r in records)
        rate = score.get("accepted_chars_per_100_typed", 0.0)
        typed = score.get("typed_chars", round(100 * accepted / rate) if rate else 0)
        out.append(Unit(key, tuple(records), typed, accepted))
    return out


def shown_answers(arm_dir: Path) -> list[dict]:
    """The model answers that reached the typist in one served arm, in order: each is its request's record
    (`read_requests`: `completion`, `kind`, `mean_logprob`, `expected`, ...) with `chars` set to the
    characters accepted from it, those typed through it from the result cache included. The cache is
    followed per file and tier across visits, as the server holds it; an empty answer ends it, and
    accepted characters with no answer shown (none cached) count nowhere."""
    answers: list[dict] = []
    last: dict[tuple, dict] = {}  # (repo, path, tier) -> the answer the server's result cache holds
    for row in read_requests(arm_dir):
        where = (row["repo"], row["path"], row.get("tier", ""))
        if row["model_answered"]:
            last.pop(where, None)
            if row["completion"]:
                last[where] = answer = {**row, "chars": 0}
                answers.append(answer)
        if row["accepted_chars"] and where in last:
            last[where]["chars"] += row["accepted_chars"]
    return answers


def gate_tradeoff(
    arm_dirs: Sequence[Path], thresholds: Sequence[float], reference: float, tier: str | None = None
) -> list[dict]:
    """What the confidence gate (`min_mean_logprob`) would have shown in replayed sessions, from served
    arms run with it off (`--min-mean-logprob -99`), one row per threshold.

    Each model answer that reached the typist counts with its mean token log-prob; the characters later
    accepted from the result cache while typing through it count with that answer (`shown_answers`). A
    hidden answer's characters are typed instead, and the typist's next requests then
    differ from this run's, so `accepted_chars` here estimates the gated run; it does not replay it.
    Rows: `min_mean_logprob`; `shown` (answers) and `shown_share`; `accepted_chars` (sum) and
    `accepted_kept_share` (of the ungated sum); `vs_reference`: accepted characters ÷ those at the
    `reference` threshold, with a 95% bootstrap interval over visits (value, low, high); `accepted_share`
    (of shown answers, those with a character accepted); `new_line_accepted_chars` (answers at a new line,
    the kind the gate hid most of in replay v15). With `tier` (an `auto` arm's "fast" or "quality"), each
    threshold applies to that tier's answers only, and the other tier's answers are gated at `reference`;
    `shown`, `shown_share` and `accepted_share` then count the tier's answers alone, the accepted
    characters both tiers'."""
    answers: list[dict] = []  # {"logprob", "varied", "kind", "chars", "visit"}
    visits: dict[tuple, int] = {}
    for arm_dir in arm_dirs:
        for row in read_requests(arm_dir):
            if row["model_answered"] and not row["completion"] and row["mean_logprob"] is not None:
                raise ValueError(
                    f"{arm_dir}: the confidence gate hid answers in this arm; replay it with "
                    "--min-mean-logprob -99 to see what each threshold would show"
                )
        for shown in shown_answers(arm_dir):
            logprob = shown["mean_logprob"]  # None: no tokens to judge; any gate shows it
            answers.append(
                {
                    "logprob": math.inf if logprob is None else logprob,
                    "varied": tier is None or shown.get("tier") == tier,
                    "kind": shown["kind"],
                    "chars": shown["chars"],
                    "visit": visits.setdefault((arm_dir, shown["repo"], shown["visit"]), len(visits)),
                }
            )
    if not any(math.isfinite(a["logprob"]) for a in answers):
        raise ValueError("no answer in these arms has a mean log-prob (a served arm of `bench replay` has)")
    if tier is not None and not any(a["varied"] for a in answers):
        raise ValueError(f"no answers of tier {tier!r} in these arms (the records' `tier`)")
    total = sum(a["chars"] for a in answers)

    varied = [a for a in answers if a["varied"]]

    def is_shown(answer: dict, threshold: float) -> bool:
        return answer["logprob"] >= (threshold if answer["varied"] else reference)

    def by_visit(threshold: float) -> np.ndarray:
        chars = np.zeros(len(visits))
        for a in answers:
            if is_shown(a, threshold):
                chars[a["visit"]] += a["chars"]
        return chars

    kept_at_reference = by_visit(reference)
    draws = _draws(len(visits), seed=0) if visits else []
    rows = []
    for threshold in thresholds:
        kept = by_visit(threshold)
        ratios = [_ratio(w @ kept, w @ kept_at_reference) for w in draws]
        shown = [a for a in varied if is_shown(a, threshold)]
        accepted = int(kept.sum())
        rows.append(
            {
                "min_mean_logprob": threshold,
                "shown": len(shown),
                "shown_share": len(shown) / len(varied) if varied else 0.0,
                "accepted_chars": accepted,
                "accepted_kept_share": accepted / total if total else 0.0,
                "vs_reference": (_ratio(accepted, kept_at_reference.sum()), *_bounds(ratios)),
                "accepted_share": sum(1 for a in shown if a["chars"]) / len(shown) if shown else 0.0,
                "new_line_accepted_chars": sum(
                    a["chars"] for a in answers if a["kind"] == "new_line" and is_shown(a, threshold)
                ),
            }
        )
    return rows


MISS_KINDS = (
    "right_but_short",  # what was typed next, but under typist.MIN_ACCEPTED_CHARS (`})`, `);`)
    "enter_expected",  # the typist's next key was Enter (the line done, or left blank); the answer is code
    "indentation_differs",  # right words after the wrong leading whitespace: a rule could mend these
    "comment_expected",  # the typist was about to write a comment (prose) and the answer is not it
    "wrong_after_first_chars",  # right for a few characters, less than a word step of 3
    "wrong_from_first_char",
)
_LINE_GAP = re.compile(r"[ \t]*\n")
_COMMENT_STARTS = ("#", "//", "/*", "*")


def miss_kind(completion: str, expected: str) -> str:
    """Why the typist took nothing of a shown `completion`, given `expected` (the text they were about to
    type, `typist.Record.expected`): the first of `MISS_KINDS` that holds. "indentation_differs" is the
    only kind that a post-processing rule could turn into accepted characters."""
    text = completion.rstrip(" \t\n")
    if expected.startswith(text):
        return "right_but_short"
    if _LINE_GAP.match(expected) and text.strip() and not _LINE_GAP.match(completion):
        return "enter_expected"
    indent, expected_indent = (t[: len(t) - len(t.lstrip())] for t in (completion, expected))
    if indent != expected_indent and typist.accepted_prefix(completion.lstrip(), expected.lstrip()):
        return "indentation_differs"
    if expected.lstrip().startswith(_COMMENT_STARTS):
        return "comment_expected"
    pairs = enumerate(zip(completion, expected, strict=False))
    common = next((i for i, (a, b) in pairs if a != b), min(len(completion), len(expected)))
    return "wrong_after_first_chars" if completion[:common].strip() else "wrong_from_first_char"


def miss_table(arm_dirs: Sequence[Path]) -> dict[str, dict[str, int]]:
    """Shown model answers of served arms (`shown_answers`) counted by request kind (`new_line`,
    `mid_line`, `other`: first in a file, return, jump) and outcome: "accepted" (a character of it taken)
    or its `miss_kind`. Returns {outcome: {request kind: count}}, outcomes in the order of "accepted" then
    `MISS_KINDS`. Raises ValueError for records without `expected` (replays before 2026-12-03)."""
    table = {outcome: {"new_line": 0, "mid_line": 0, "other": 0} for outcome in ("accepted", *MISS_KINDS)}
    for arm_dir in arm_dirs:
        if not has_requests(arm_dir):
            raise ValueError(f"{arm_dir}: no {REQUESTS_FILE} here (give a served arm's folder)")
        for answer in shown_answers(arm_dir):
            if answer["chars"]:
                outcome = "accepted"
            elif answer.get("expected") is None:
                raise ValueError(f"{arm_dir}: records without `expected` (replayed before 2026-12-03)")
            else:
                outcome = miss_kind(answer["completion"], answer["expected"])
            kind = answer["kind"] if answer["kind"] in ("new_line", "mid_line") else "other"
            table[outcome][kind] += 1
    return table


def paired_arms(ours_dir: Path | str, peer_dir: Path | str) -> str:
    """Ours ÷ peer from two arm folders of the same seeded sessions (for example a served-only rerun and
    an earlier run's peer arm), paired over the visits both have. Either side may name several arm folders
    joined by commas (one per language, in the same order on both sides): their visits are pooled, the
    n-th folder of one side paired with the n-th of the other."""
    ours_folders, peer_folders = str(ours_dir).split(","), str(peer_dir).split(",")
    if len(ours_folders) != len(peer_folders) or not all(ours_folders + peer_folders):
        raise ValueError(
            f"--pair takes as many arm folders on each side (one per language, in the same order): "
            f"{len(ours_folders)} against {len(peer_folders)}"
        )
    missing = [f for f in ours_folders + peer_folders if not has_requests(Path(f))]
    if missing:
        raise ValueError(f"no {REQUESTS_FILE} in {', '.join(missing)} (give the arms' folders, RUN/served)")
    ours, peer = _pooled_units(ours_folders), _pooled_units(peer_folders)
    common = {u.key for u in ours} & {u.key for u in peer}
    ours, peer = [u for u in ours if u.key in common], [u for u in peer if u.key in common]
    found = ratios(ours, peer)
    cells = ", ".join(
        f"{key} {value['value']:.2f} [{value['low']:.2f}, {value['high']:.2f}]"
        for key, value in found.items()
    )
    return f"{ours_dir} ÷ {peer_dir}, {len(common)} visits with requests in both: {cells}"


def _pooled_units(folders: list[str]) -> list[Unit]:
    """The visits of arm folders, each key prefixed by its folder's place in the list."""
    return [
        dataclasses.replace(unit, key=f"{place}:{unit.key}")
        for place, folder in enumerate(folders)
        for unit in arm_units(Path(folder))
    ]


def ratios(served: Sequence[Unit], peer_units: Sequence[Unit]) -> dict:
    """Served ÷ peer on the same visits: latency p50 / p95 (lower is better for us) and accepted characters
    per 100 typed (higher is better for us)."""
    return {
        key: paired_ratio(served, peer_units, STATISTICS[key])
        for key in ("latency_ms_p50", "latency_ms_p95", "accepted_chars_per_100_typed")
    }


class _Progress:
    """A tqdm bar per arm and repository, counting requests."""

    def __init__(self):
        self.bar = None

    def start(self, label: str) -> _Progress:
        from tqdm import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(desc=label, unit="req", mininterval=5)
        return self

    def __call__(self, record: Record | None) -> None:
        if self.bar is not None:
            self.bar.update(1)


def report(result: dict) -> str:
    """The tables and the last lines: ours ÷ peer."""
    sections = []
    languages = sorted({lang for arm in result["arms"].values() for lang in arm})
    if len(languages) == 2:  # one language and "all": the same table twice
        languages.remove("all")
    for language in languages:
        present = {name: arm[language] for name, arm in result["arms"].items() if language in arm}
        sections += [f"### {language}", "", table(present), ""]
    for tier, kinds in result.get("tiers", {}).items():
        cells = [
            f"{kind} {c['requests']} (shown {c['shown_share']:.0%}, "
            f"accepted {c['accepted_share_of_shown']:.0%} of shown, p50 {c['latency_ms_p50']:.0f} ms)"
            for kind, c in kinds.items()
        ]
        sections.append(f"answered by the {tier} tier: " + "; ".join(cells))
    if result.get("naive"):
        naive = result["naive"]
        ratio = naive["p50_ratio_naive_over_served"]
        p50s = f"{naive['naive_latency_ms_p50']:.0f} ms vs {naive['served_latency_ms_p50']:.0f} ms served"
        interval_text = f"{ratio['value']:.1f}x [{ratio['low']:.1f}, {ratio['high']:.1f}]"
        sections.append(
            f"naive on {naive['requests']} sampled served requests: p50 {p50s} ({interval_text}); "
            f"same completion {naive['same_completion_share']:.0%}"
        )
    if "served_over_peer" in result:
        r = result["served_over_peer"]
        sections.append(
            "ours ÷ peer: latency p50 " + cell(r["latency_ms_p50"]) + ", p95 " + cell(r["latency_ms_p95"])
            + "; accepted chars per 100 typed " + cell(r["accepted_chars_per_100_typed"])
        )  # fmt: skip
    return "\n".join(sections)
