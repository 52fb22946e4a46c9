"""IDE-replay benchmark: a simulated editing session over a real repository (an eval-split package),
sent over HTTP to a real server exactly as the editor extension does, once with the product's caching and
once with a naive configuration (no KV reuse across requests: the full prompt every time), in one run.

The typist writes lines of files that were removed from the project: in file A it writes a few lines,
switches to B (a warmup is sent on the switch, then it writes there), comes back to A, looks something up
in C (warmup only) and comes back to A again. On each line it asks for a completion at the line start and
after each of `TRIGGER_CHARACTERS`; a suggestion counts as accepted when the text the typist is about to
type starts with it and it has at least `MIN_ACCEPTED_CHARS` characters; accepted text is not typed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from nanocomplete.evals import metrics

TRIGGER_CHARACTERS = ".(,=:[{ "
MIN_ACCEPTED_CHARS = 3
REGION_LINES = 16  # lines removed from each file the typist writes in (the script writes at most these)
THINK_S = 1.5  # pause after a file switch: the editor's warmup runs meanwhile


@dataclass(frozen=True)
class Visit:
    path: str
    lines: int  # lines to write; 0 = only look at the file


@dataclass
class Request:
    file: str
    event: str  # "line_start" | "mid_line"
    after_switch: str | None  # "new_file" | "returning" | None
    latency_ms: float
    prompt_tokens: int
    evaluated: int
    reused: int
    prompt_ms: float
    generation_ms: float
    cache: str
    shown: bool
    accepted: bool
    suggestion_chars: int
    mean_logprob: float | None


@dataclass
class Session:
    requests: list[Request] = field(default_factory=list)
    typed_chars: int = 0
    accepted_chars: int = 0


class Typist:
    """Replays one editing session against a server."""

    def __init__(self, client: httpx.Client, root: Path, originals: dict[str, str], regions: dict[str, int]):
        self.client, self.root = client, root
        self.originals, self.regions = originals, regions
        self.written = {path: 0 for path in regions}  # lines of each region written so far
        self.session = Session()
        self.visited: set[str] = set()

    def run(self, script: list[Visit]) -> Session:
        for visit in script:
            switch = "returning" if visit.path in self.visited else "new_file"
            self.visited.add(visit.path)
            self._warm(visit.path)
            time.sleep(THINK_S)
            pending_switch: str | None = switch  # marks the visit's first request (blank lines make none)
            for _ in range(visit.lines):
                pending_switch = self._write_line(visit.path, pending_switch)
        return self.session

    # --- documents ---

    def _document(self, path: str, line_text: str) -> tuple[str, dict]:
        """The file as the editor holds it: region lines written so far, the current line up to the
        cursor (`line_text`), and the rest of the file after the region."""
        lines = self.originals[path].split("\n")
        start, written = self.regions[path], self.written[path]
        before = lines[: start + written]
        region_end = start + REGION_LINES
        text = "\n".join([*before, line_text, *lines[region_end:]])
        cursor = {"line": len(before), "character": len(line_text.encode("utf-16-le")) // 2}
        return text, cursor

    def _target(self, path: str) -> str:
        return self.originals[path].split("\n")[self.regions[path] + self.written[path]]

    def _upcoming(self, path: str, typed: str) -> str:
        """What the typist will type next: the rest of this line and the region's following lines."""
        lines = self.originals[path].split("\n")
        start = self.regions[path] + self.written[path]
        rest = lines[start][len(typed) :]
        following = lines[start + 1 : self.regions[path] + REGION_LINES]
        return "\n".join([rest, *following])

    # --- actions ---

    def _warm(self, path: str) -> None:
        text, cursor = self._document(path, self._indentation(path))
        self.client.post("/v1/warm", json=self._body(path, text, cursor))

    def _write_line(self, path: str, after_switch: str | None) -> str | None:
        """Type one line, asking for completions on the way; returns `after_switch` if no request used it."""
        target = self._target(path)
        typed = self._indentation(path)
        event = "line_start"
        while len(typed) < len(target):
            if event == "line_start" or typed[-1] in TRIGGER_CHARACTERS:
                typed = self._ask(path, typed, event, after_switch)
                after_switch, event = None, "mid_line"
                if len(typed) >= len(target):
                    break
            typed += target[len(typed)]
            self.session.typed_chars += 1
        self.written[path] += 1
        return after_switch

    def _ask(self, path: str, typed: str, event: str, after_switch: str | None) -> str:
        text, cursor = self._document(path, typed)
        started = time.perf_counter()
        body = self.client.post("/v1/complete", json=self._body(path, text, cursor)).json()
        latency_ms = (time.perf_counter() - started) * 1000
        suggestion = body.get("completion", "")
        upcoming = self._upcoming(path, typed)
        first_line = suggestion.split("\n")[0]
        accepted = len(first_line) >= MIN_ACCEPTED_CHARS and upcoming.startswith(first_line)
        t = body.get("timings") or {}
        print(f"  {path} {event:10} {latency_ms:7.0f} ms  {t.get('prompt_tokens_evaluated', 0):5} evaluated  "
              f"{body.get('cache', 'none'):12} {'accepted' if accepted else ''}", flush=True)  # fmt: skip
        self.session.requests.append(
            Request(
                path, event, after_switch, latency_ms, t.get("prompt_tokens", 0),
                t.get("prompt_tokens_evaluated", 0), t.get("prompt_tokens_reused", 0),
                t.get("prompt_ms", 0.0), t.get("generation_ms", 0.0),
                body.get("cache", "none"), bool(suggestion), accepted, len(suggestion),
                body.get("confidence", {}).get("mean_logprob"),
            )
        )  # fmt: skip
        if accepted:
            self.session.accepted_chars += len(first_line)
            return typed + first_line
        return typed

    def _indentation(self, path: str) -> str:
        target = self._target(path)
        return target[: len(target) - len(target.lstrip())]

    def _body(self, path: str, text: str, cursor: dict) -> dict:
        return {
            "uri": (self.root / path).as_uri(),
            "text": text,
            "cursor": cursor,
            "workspace_root": str(self.root),
        }


def choose_regions(files: dict[str, str], paths: list[str]) -> dict[str, int]:
    """For each path, the first function or method at or after 40% of the file with enough lines."""
    regions = {}
    for path in paths:
        lines = files[path].split("\n")
        start = int(len(lines) * 0.4)
        for index in range(start, len(lines) - REGION_LINES):
            stripped = lines[index].lstrip()
            body = lines[index + 1 : index + REGION_LINES]
            if stripped.startswith(("def ", "async def ", "function ", "export function ")) and all(
                line.strip() for line in body[:3]
            ):
                regions[path] = index + 1  # write the body, the signature is there
                break
        else:
            regions[path] = start
    return regions


def prepare_workspace(files: dict[str, str], regions: dict[str, int]) -> Path:
    """The package on disk with every region to be written removed (nothing the typist will type is
    visible to retrieval)."""
    root = Path(tempfile.mkdtemp(prefix="nanocomplete-replay-"))
    for path, text in files.items():
        lines = text.split("\n")
        if path in regions:
            del lines[regions[path] : regions[path] + REGION_LINES]
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines), encoding="utf-8")
    return root


def summarise(session: Session) -> dict:
    requests = session.requests
    timed = [r for r in requests if r.cache != "result_cache"]
    shown = [r for r in requests if r.shown]

    def median(values):
        return statistics.median(values) if values else 0.0

    def p95(values):
        return metrics.p95(values) if values else 0.0

    evaluated = sum(r.evaluated for r in timed)
    reused = sum(r.reused for r in timed)
    by_event = {}
    for name, members in (
        ("line_start", [r for r in requests if r.event == "line_start" and not r.after_switch]),
        ("mid_line", [r for r in requests if r.event == "mid_line"]),
        ("first_in_new_file", [r for r in requests if r.after_switch == "new_file"]),
        ("first_after_returning", [r for r in requests if r.after_switch == "returning"]),
    ):
        by_event[name] = {
            "n": len(members),
            "latency_ms_p50": median([r.latency_ms for r in members]),
            "evaluated_median": median([r.evaluated for r in members]),
        }
    return {
        "requests": len(requests),
        "shown": len(shown),
        "accepted": sum(r.accepted for r in requests),
        "acceptance_rate": sum(r.accepted for r in shown) / len(shown) if shown else 0.0,
        "accepted_chars_per_100_typed": 100 * session.accepted_chars / max(1, session.typed_chars),
        "latency_ms_p50": median([r.latency_ms for r in requests]),
        "model_latency_ms_p50": median([r.latency_ms for r in timed]),
        "latency_ms_p95": p95([r.latency_ms for r in requests]),
        "prompt_tokens_median": median([r.prompt_tokens for r in timed]),
        "prompt_tokens_evaluated_median": median([r.evaluated for r in timed]),
        "cache_hit_ratio": reused / (reused + evaluated) if evaluated + reused else 0.0,
        "prompt_ms_total": sum(r.prompt_ms for r in timed),
        "generation_ms_total": sum(r.generation_ms for r in timed),
        "by_event": by_event,
        "cache_outcomes": {
            c: sum(r.cache == c for r in requests) for c in sorted({r.cache for r in requests})
        },
    }


def gate_tradeoff(session: Session, thresholds=(-99.0, -2.0, -1.5, -1.0, -0.75, -0.5, -0.3)) -> list[dict]:
    """Suggestions shown and acceptance rate if completions with a lower mean log-prob were hidden."""
    shown = [r for r in session.requests if r.shown and r.mean_logprob is not None]
    rows = []
    for threshold in thresholds:
        kept = [r for r in shown if r.mean_logprob >= threshold]
        rows.append(
            {
                "min_mean_logprob": threshold,
                "shown": len(kept),
                "accepted": sum(r.accepted for r in kept),
                "acceptance_rate": sum(r.accepted for r in kept) / len(kept) if kept else 0.0,
            }
        )
    return rows


def session_records(session: Session) -> list[dict]:
    return [asdict(r) for r in session.requests]


# --- the benchmark ---------------------------------------------------------------------------------------


def script_for(paths: list[str]) -> list[Visit]:
    """Write in A, switch to B and write, back to A, look something up in C, back to A."""
    a, b, c = paths
    return [Visit(a, 5), Visit(b, 3), Visit(a, 5), Visit(c, 0), Visit(a, 3)]


def pick_files(files: dict[str, str], count: int = 3) -> list[str]:
    """The largest source files (deterministic), which the typist works in."""
    ranked = sorted(files, key=lambda p: (-len(files[p].split("\n")), p))
    return [p for p in ranked if not p.endswith("__init__.py")][:count]


def run(engine, model_name: str, files: dict[str, str], settings, reuse_kv: bool) -> Session:
    from nanocomplete.config import ServerConfig
    from nanocomplete.server import BackgroundServer, create_app, free_port
    from nanocomplete.service import CompletionService

    paths = pick_files(files)
    regions = choose_regions(files, paths)
    root = prepare_workspace(files, regions)
    engine.reset()
    config = ServerConfig(port=free_port())
    service = CompletionService(engine, model_name, settings, server=config, reuse_kv=reuse_kv)
    service.workspaces.get(str(root))  # the editor opens the folder: indexing starts
    app = create_app(service, config)
    with (
        BackgroundServer(app, config.port) as server,
        httpx.Client(base_url=server.url, timeout=600) as client,
    ):
        _wait_for_index(service, root)
        return Typist(client, root, files, regions).run(script_for(paths))


def _wait_for_index(service, root: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = service.workspaces.get(str(root))
        if found is not None and found.passes and not found.running:
            return
        time.sleep(0.1)


def table(results: dict) -> str:
    """The configurations side by side (ours, then naive if it ran); the ratio of median latencies last."""
    names = [name for name in ("nanocomplete", "naive") if name in results]
    summaries = [results[name]["summary"] for name in names]
    rows = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key in (
        "requests", "shown", "accepted", "acceptance_rate", "accepted_chars_per_100_typed", "latency_ms_p50",
        "model_latency_ms_p50", "latency_ms_p95", "prompt_tokens_median", "prompt_tokens_evaluated_median",
        "cache_hit_ratio", "prompt_ms_total", "generation_ms_total",
    ):  # fmt: skip
        rows.append(f"| {key} | " + " | ".join(_fmt(summary[key]) for summary in summaries) + " |")
    for event in summaries[0]["by_event"]:
        cells = []
        for summary in summaries:
            values = summary["by_event"][event]
            cells.append(f"{values['n']} / {values['latency_ms_p50']:.0f} / {values['evaluated_median']:.0f}")
        rows.append(f"| {event}: n / p50 ms / evaluated | " + " | ".join(cells) + " |")
    if len(summaries) == 2:
        ours, naive = summaries
        ratio = naive["latency_ms_p50"] / ours["latency_ms_p50"] if ours["latency_ms_p50"] else float("inf")
        model_ratio = naive["model_latency_ms_p50"] / max(ours["model_latency_ms_p50"], 1e-9)
        rows.append(f"\np50 latency of requests the model answered, naive / nanocomplete: {model_ratio:.1f}x")
        rows.append(f"p50 latency, naive / nanocomplete: {ratio:.1f}x")
    return "\n".join(rows)


def _fmt(value) -> str:
    return (
        f"{value:.3f}"
        if isinstance(value, float) and value < 10
        else f"{value:.0f}"
        if isinstance(value, float)
        else str(value)
    )
