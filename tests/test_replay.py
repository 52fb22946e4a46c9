"""IDE replay v2: the typist's scripts, the acceptance rule, llama.vscode's requests (the peer driver), and
the served arm over the real HTTP server (a fake model: the real numbers come from `nanocomplete bench
replay`)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fakes import FakeEngine

from nanocomplete import peer, replay, typist
from nanocomplete.completion import Settings
from nanocomplete.config import ServerConfig
from nanocomplete.server import free_port
from nanocomplete.service import CompletionService

FIXTURES = Path(__file__).parent / "fixtures" / "peer"


def _python_file(name: str, functions: int) -> str:
    body = "\n".join(
        f"def {name}{i}(value, other):\n"
        f"    total = value + other\n"
        f"    if total > {i}:\n"
        f"        total = total * 2\n"
        f"    result = [total, value, other]\n"
        f"    for item in result:\n"
        f"        total += item\n"
        f"    while total > 100:\n"
        f"        total -= 7\n"
        f"    text = str(total)\n"
        f"    print(text, value)\n"
        f"    other = text.strip()\n"
        f"    return total\n"
        for i in range(functions)
    )
    return f"import os\n\n\n{body}"


FILES = {
    "pkg/__init__.py": "",
    "pkg/alpha.py": _python_file("alpha", 12),
    "pkg/beta.py": _python_file("beta", 6),
    "pkg/gamma.py": _python_file("gamma", 6),
    "pkg/delta.py": _python_file("delta", 6),
    "pkg/tests/test_alpha.py": _python_file("test_alpha", 6),
}


# --- the acceptance rule ---


@pytest.mark.parametrize(
    ("suggestion", "upcoming", "taken"),
    [
        ("value + other", "value + other\n    if", "value + other"),  # whole
        ("value + other  ", "value + other\n", "value + other"),  # trailing whitespace is not typed
        ("value + others", "value + other\n", "value +"),  # word by word, up to the first wrong word
        ("value.strip()", "value.split()", "value."),  # a word or a run of symbols is one step
        ("va", "value", ""),  # shorter than MIN_ACCEPTED_CHARS
        ("  value", "value", ""),  # wrong leading whitespace: nothing
        ("a = 1\n    b = 2", "a = 1\n    b = 2\n", "a = 1\n    b = 2"),  # multi-line, whole
        ("a = 1\n    b = 3", "a = 1\n    b = 2\n", "a = 1\n    b ="),  # multi-line: lines, then words
        ("a = 1\nb = 2", "a = 1\n    b = 2", "a = 1\n"),  # the next line's indentation is wrong
        ("", "anything", ""),
    ],
)
def test_accepted_prefix_takes_what_the_typist_would_type(suggestion, upcoming, taken):
    assert typist.accepted_prefix(suggestion, upcoming) == taken


# --- the typist ---


class RecordingArm:
    """Suggests `answer` and records every document it is asked about."""

    def __init__(self, answer: str = ""):
        self.answer, self.opened, self.asked = answer, [], []

    def activate(self, document):
        self.opened.append(document)

    def complete(self, document):
        self.asked.append(document)
        return typist.Answer(self.answer, 1.0)


def test_plan_session_is_deterministic_for_a_seed_and_skips_tests():
    first = typist.plan_session(FILES, (".py",), seed=3)
    assert first == typist.plan_session(FILES, (".py",), seed=3)
    regions, script = first
    assert {r.path for r in regions} == {"pkg/alpha.py", "pkg/beta.py", "pkg/gamma.py", "pkg/delta.py"}
    assert sum(v.lines == 0 for v in script) == 1  # one file only looked at first
    assert len({r.start for r in regions if r.path == regions[0].path}) == 2  # a jump within a file


def test_a_session_is_the_same_for_a_seed_and_labels_every_request_kind():
    regions, script = typist.plan_session(FILES, (".py",), seed=0)
    runs = []
    for _ in range(2):
        arm = RecordingArm()
        session = typist.Typist(FILES, regions, seed=0).run(script, arm)
        runs.append([(r.kind, r.path, r.line_prefix) for r in session.records])
    assert runs[0] == runs[1]
    kinds = {kind for kind, _, _ in runs[0]}
    assert kinds == set(typist.REQUEST_KINDS)
    assert len(arm.opened) == 10  # a warm-up per file switch: A B A · C A C B D A D


def test_the_typist_writes_the_removed_text_back_exactly():
    regions, _script = typist.plan_session(FILES, (".py",), seed=1)
    typed = typist.Typist(FILES, regions, seed=1)
    typed.run([typist.Visit(r, 99) for r in regions], RecordingArm())
    for region in regions:
        assert typed.written[region] == typed.target(region)
    # documents show every region's written lines and nothing of what is left to write
    document = typed.document(regions[0])
    assert document.text == FILES[regions[0].path]


def test_accepted_text_is_not_typed_and_deletions_are_retyped():
    regions, script = typist.plan_session(FILES, (".py",), seed=0)
    plain = typist.Typist(FILES, regions, 0).run(script, RecordingArm())
    helped = typist.Typist(FILES, regions, 0).run(script, RecordingArm("total = value + other"))
    assert sum(helped.accepted_chars_by_visit.values()) > 0
    assert sum(helped.typed_chars_by_visit.values()) < sum(plain.typed_chars_by_visit.values())
    prefixes = [r.line_prefix for r in plain.records]
    shrunk = [b for a, b in itertools.pairwise(prefixes) if a.startswith(b) and len(b) < len(a)]
    assert shrunk  # some requests come after deleting what was just typed


@pytest.mark.parametrize(
    ("typed", "closers"),
    [
        ("    total = sum(", ")"),
        ("    total = sum(price(item[", "]))"),
        ("    total = sum(price(item[0]) ", ")"),  # typed closers step over their own
        ('    name = f("a(', '")'),  # nothing is auto-closed inside a string
        ("    # it's (", ""),  # nor after a comment start
        ("    note = it's", ""),  # a quote after a word character opens nothing
        ("    value = {'a': [", "]}"),
        ("    done()", ""),
    ],
)
def test_auto_closed_gives_the_closers_the_editor_put_right_of_the_cursor(typed, closers):
    assert typist.auto_closed(typed) == closers


def test_the_editor_shows_auto_closed_characters_right_of_the_cursor_and_the_typist_steps_over_them():
    regions, script = typist.plan_session(FILES, (".py",), seed=0)
    closing, plain = RecordingArm(), RecordingArm()
    typist.Typist(FILES, regions, 0).run(script, closing)
    typist.Typist(FILES, regions, 0, typist.Habits(auto_close=False)).run(script, plain)
    rests = [d.text.split("\n")[d.line][len(d.line_prefix) :] for d in closing.asked]
    assert any(rest == ")" for rest in rests) and all(rest.strip(")]}'\"") == "" for rest in rests)
    assert [d.line_prefix for d in closing.asked] == [d.line_prefix for d in plain.asked]
    assert not any(d.text.split("\n")[d.line][len(d.line_prefix) :] for d in plain.asked)


def _javascript_file(name: str, functions: int) -> str:
    return "\n".join(
        f"function {name}{i}(value, other) {{\n"
        f"    let total = value + other;\n"
        f"    if (total > {i}) {{\n"
        f"        total = total * 2;\n"
        f"    }}\n"
        f"    const result = [total, value, other];\n"
        f"    for (const item of result) {{\n"
        f"        total += item;\n"
        f"    }}\n"
        f"    items.forEach((item) => {{\n"
        f"        total -= item;\n"
        f"    }});\n"
        f"    return total;\n"
        f"}}\n"
        for i in range(functions)
    )


JS_FILES = {f"src/{name}.js": _javascript_file(name, 8) for name in ("alpha", "beta", "gamma", "delta")}


def test_enter_between_brackets_moves_the_closers_below_and_the_typist_steps_onto_them():
    regions, _script = typist.plan_session(JS_FILES, (".js",), seed=0)
    arm = RecordingArm()
    written = typist.Typist(JS_FILES, regions, 0)
    session = written.run([typist.Visit(r, 99) for r in regions], arm)
    for region in regions:
        assert written.written[region] == written.target(region)
        assert written.document(region).text == JS_FILES[region.path]  # no closer left over
    below = [d.text.split("\n")[d.line + 1] for d in arm.asked]
    in_new_block = [
        (d.line_prefix, line) for d, line in zip(arm.asked, below, strict=True) if not d.line_prefix.strip()
        and d.text.split("\n")[d.line - 1].endswith("{") and line.strip() in ("}", "})")
    ]  # fmt: skip
    assert ("        ", "    }") in in_new_block and ("        ", "    })") in in_new_block
    plain = typist.Typist(JS_FILES, regions, 0, typist.Habits(auto_close=False))
    unclosed = plain.run([typist.Visit(r, 99) for r in regions], RecordingArm())
    stepped = sum(unclosed.typed_chars_by_visit.values()) - sum(session.typed_chars_by_visit.values())
    assert stepped > 0  # the `}` it stepped onto were not typed


def test_an_accepted_suggestion_that_writes_the_closer_line_replaces_the_editors():
    regions, _script = typist.plan_session(JS_FILES, (".js",), seed=0)
    written = typist.Typist(JS_FILES, regions, 0)
    written.run([typist.Visit(r, 99) for r in regions], RecordingArm("total = total * 2;\n    }"))
    for region in regions:
        assert written.document(region).text == JS_FILES[region.path]


def test_a_paced_typist_is_idle_before_each_request_for_the_time_it_spent_typing_or_reading():
    regions, script = typist.plan_session(FILES, (".py",), seed=0)
    slept: list[float] = []
    habits = typist.Habits(ms_per_char=100, switch_pause_ms=2000, sleep=slept.append)
    paced = typist.Typist(FILES, regions, 0, habits).run(script, RecordingArm())
    unpaced = typist.Typist(FILES, regions, 0).run(script, RecordingArm())
    typed = sum(paced.typed_chars_by_visit.values())
    switches = sum(r.kind in ("first_in_file", "return_to_file") for r in paced.records)
    assert [(r.kind, r.line_prefix) for r in paced.records] == [
        (r.kind, r.line_prefix) for r in unpaced.records
    ]
    spent = typed * 0.1 + (switches + 1) * 2.0  # the file only looked at is one more switch
    assert spent - 1.0 <= sum(slept) <= spent  # what is typed after the last request is never waited for
    assert all(s > 0 for s in slept)


# --- the peer driver (llama.vscode) ---


def test_the_peer_driver_builds_llama_vscodes_request_body():
    """Golden: the body llama.vscode's createRequestPayload builds for this document (tests/fixtures/
    peer/llama_vscode_bodies.json, derived from its src/completion.ts and src/llama-server.ts)."""
    golden = json.loads((FIXTURES / "llama_vscode_bodies.json").read_text())
    for case in golden["cases"]:
        lines = case["document"].split("\n")
        inputs = peer.fim_inputs(lines, case["line"], case["character"])
        if case["body"] is None:
            assert inputs is None, case["name"]
            continue
        assert peer.infill_body(inputs, case["chunks"]) == case["body"], case["name"]
    assert peer.ring_update_body(golden["ring_update"]["chunks"]) == golden["ring_update"]["body"]


def test_the_peer_client_cache_answers_while_the_user_types_the_suggestion():
    lines = ["def f(x):", "    return x", ""]
    cache = peer.ResultCache()
    first = peer.fim_inputs(["def f(x):", "    ret", ""], 1, 7)
    cache.put(first, ["urn x"])
    later = peer.fim_inputs(["def f(x):", "    retu", ""], 1, 8)
    assert cache.get(later) == ["rn x"]
    assert cache.get(peer.fim_inputs(["def f(x):", "    reb", ""], 1, 7)) is None
    assert lines  # the document the cache keys are built from


def test_the_peer_discards_what_llama_vscode_discards():
    lines = ["def f(x):", "    ", "    return x"]
    inputs = peer.fim_inputs(lines, 1, 4)
    assert peer.shown_suggestion("return x", lines, 1, inputs) is None  # repeats the next line
    assert peer.shown_suggestion("   \n", lines, 1, inputs) is None  # only whitespace
    assert peer.shown_suggestion("    y = x\n", lines, 1, inputs) == "y = x"  # the indent typed is removed


def test_the_ring_queues_chunks_on_a_switch_and_moves_one_per_update():
    import random

    ring = peer.Ring(random.Random(0))
    text = [f"line {i}" for i in range(200)]
    ring.pick_around_cursor(text, 100, "a.py", dirty=False)
    ring.pick_around_cursor(text, 100, "b.py", dirty=True)  # unsaved: not picked
    assert len(ring.queued) == 1 and not ring.chunks
    assert ring.update() and len(ring.chunks) == 1 and not ring.update()
    assert len(ring.chunk_lines[0]) == peer.RING_CHUNK_SIZE // 2


# --- the served arm over the real HTTP server ---


def _factory(engine):
    def service_factory(reuse_kv: bool):
        server = ServerConfig(port=free_port())
        return CompletionService(engine, "fake", Settings(), server=server, reuse_kv=reuse_kv), server

    return service_factory


def test_the_served_arm_replays_a_session_over_http_and_the_naive_arm_pairs_its_requests(tmp_path):
    engine = FakeEngine("total = value + other")
    repo = replay.Repo("pkg", "python", FILES, (".py",))
    run, bodies = replay.replay_served(_factory(engine), repo, 0, lambda record: None, tmp_path)
    assert len(bodies) == len(run.session.records) > 40
    assert sum(run.session.accepted_chars_by_visit.values()) > 0
    assert {r.cache for r in run.session.records} & {"kv_reuse", "result_cache", "snapshot"}
    # each record keeps what the typist was about to type: what it accepted is the start of that
    accepted = [r for r in run.session.records if r.accepted_chars]
    assert accepted and all(r.expected.startswith(r.completion[: r.accepted_chars]) for r in accepted)
    assert all(0 < len(r.expected) <= typist.EXPECTED_CHARS for r in run.session.records if r.requested)
    # model answers keep the server's breakdown of their latency
    answered = [r for r in run.session.records if r.model_answered]
    assert answered and all(set(r.timings) == set(replay.SERVED_TIMINGS) for r in answered)
    sampled_bodies, sampled = replay.naive_sample([(run, bodies)], 5, seed=0)
    pairs = replay.replay_naive(_factory(engine), sampled_bodies, sampled, lambda record: None)
    assert len(pairs) == 5 and all(p["same_completion"] for p in pairs)
    # the same prompts (the workspace's context included), evaluated whole every time
    assert all(p["naive_prompt_tokens"] == p["served_prompt_tokens"] == p["naive_evaluated"] for p in pairs)
    summary = replay.summarise(replay.units([run]))
    assert summary["requests"]["value"] == len(bodies)
    assert summary["accepted_chars_per_100_typed"]["low"] <= summary["accepted_chars_per_100_typed"]["value"]
    directory = replay.write_arm(tmp_path, "served", [run], {"all": summary})
    rows = [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]
    assert len(rows) == len(run.session.typed_chars_by_visit)


def test_arms_are_compared_on_the_same_visits():
    def unit(key, latency, accepted):
        record = typist.Record(0, "a", "mid_line", "", "x", accepted, latency, 1, 1, "none", True, True, None)
        return replay.Unit(key, (record,), 10, accepted)

    ours = [unit(f"r#{i}", 100.0, 5) for i in range(20)]
    theirs = [unit(f"r#{i}", 400.0, 2) for i in range(20)]
    ratio = replay.paired_ratio(ours, theirs, replay.STATISTICS["latency_ms_p50"])
    assert ratio["value"] == pytest.approx(0.25) and ratio["units"] == 20
    accepted = replay.paired_ratio(ours, theirs, replay.STATISTICS["accepted_chars_per_100_typed"])
    assert accepted["value"] == pytest.approx(2.5)


def test_a_two_tier_run_counts_what_each_tier_answered_by_request_kind():
    def record(kind, tier, completion, accepted, latency):
        return typist.Record(
            0, "a", kind, "", completion, accepted, latency, 1, 1, "miss", True, True, None, tier
        )

    session = typist.Session(
        [
            record("new_line", "quality", "return x", 8, 900.0),
            record("new_line", "quality", "", 0, 1100.0),
            record("mid_line", "fast", "x)", 2, 100.0),
            record("mid_line", "fast", "y)", 0, 300.0),
        ]
    )
    run = replay.ArmRun("r", "python", session)
    tiers = replay.tier_summary([run])
    assert tiers["quality"]["new_line"] == {
        "requests": 2, "shown_share": 0.5, "accepted_share_of_shown": 1.0, "latency_ms_p50": 1000.0
    }  # fmt: skip
    assert tiers["fast"]["all"]["accepted_share_of_shown"] == 0.5 and "new_line" not in tiers["fast"]


def test_the_peer_arm_sends_ring_updates_and_skips_long_line_suffixes():
    """PeerArm against a loopback stand-in for llama-server's /infill (the real binary is the benchmark's)."""
    from fastapi import FastAPI

    from nanocomplete.server import BackgroundServer

    bodies = []
    app = FastAPI()

    @app.post("/infill")
    async def infill(body: dict):
        bodies.append(body)
        return {"content": "" if body["n_predict"] == 0 else "x + 1", "timings": {"prompt_n": 7}}

    with BackgroundServer(app, free_port()) as server, httpx.Client(base_url=server.url) as client:
        arm = replay.PeerArm(client, seed=0)
        text = "\n".join(f"line_{i} = {i}" for i in range(80))
        arm.activate(typist.Document("a.py", text, 40, 0))
        assert [b["n_predict"] for b in bodies] == [0]  # the ring update after the switch
        answer = arm.complete(typist.Document("a.py", text, 40, 6))
        assert answer.completion == "x + 1" and answer.prompt_tokens_evaluated == 7
        assert bodies[-1]["prompt"] == "line_4" and bodies[-1]["n_predict"] == peer.N_PREDICT
        skipped = arm.complete(typist.Document("a.py", text, 40, 0))  # "line_40 = 40" follows the cursor
        assert not skipped.requested and len(bodies) == 2


def _cached_llama_server() -> Path | None:
    found = sorted(Path.home().glob(".cache/nanocomplete/llama-server/llama-server-*/llama-server"))
    return found[-1] if found else None


@pytest.mark.skipif(_cached_llama_server() is None, reason="llama-server not built (`make llama-server`)")
def test_the_peer_arm_completes_through_the_real_llama_server(model_path):
    """The real binary (built by `make llama-server`; the benchmark builds it when missing) started as the
    peer arm starts it, driven by llama.vscode's requests: a warm ring, an answer, and a cached prefix."""
    text = "import math\n\n\ndef area(radius):\n    return math.\n\n\nprint(area(2))"
    with (
        replay.LlamaServer(_cached_llama_server(), model_path, threads=2) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        arm = replay.PeerArm(client, seed=0)
        arm.activate(typist.Document("geometry.py", text, 4, 4))
        first = arm.complete(typist.Document("geometry.py", text, 4, 16))
        again = arm.complete(typist.Document("geometry.py", text.replace("math.", "math.p"), 4, 17))
    assert first.requested and first.prompt_tokens_evaluated > 10
    assert set(first.timings) == set(replay.PEER_TIMINGS) and first.timings["predicted_ms"] > 0
    assert again.cache == "client_cache" or again.prompt_tokens_evaluated < first.prompt_tokens_evaluated


def test_a_whole_replay_writes_every_arm_and_the_ratios(tmp_path):
    """`replay.run` end to end with the fake model and a loopback stand-in for llama-server: the arms'
    directories, the naive pairs, the per-language summaries and the ours ÷ peer line."""
    from fastapi import FastAPI

    from nanocomplete.server import BackgroundServer

    app = FastAPI()

    @app.post("/infill")
    async def infill(body: dict):
        return {"content": "" if body["n_predict"] == 0 else "total", "timings": {"prompt_n": 300}}

    class StubPeer(BackgroundServer):
        def __init__(self):
            super().__init__(app, free_port())

    repos = [replay.Repo("pkg", "python", FILES, (".py",))]
    factory = _factory(FakeEngine("total = value + other"))
    result = replay.run(
        repos, replay.ARMS, factory, StubPeer, tmp_path, naive_requests=4, sessions_per_repo=2
    )
    assert set(result["arms"]) == {"served", "peer"} and set(result["arms"]["served"]) == {"python", "all"}
    assert result["naive"]["requests"] == 4
    assert result["served_over_peer"]["latency_ms_p50"]["units"] == 2 * len(typist._TEMPLATE)
    for arm in ("served", "peer"):
        assert replay.read_requests(tmp_path / arm) and (tmp_path / arm / "results.jsonl").read_text()
        assert not (tmp_path / arm / "requests.jsonl").exists()  # written compressed
    text = replay.report(result)
    assert "ours ÷ peer: latency p50" in text and "### python" in text
    assert "| new line: prompt tokens evaluated p50 |" in text and "evaluated_tokens" not in text
    shown = subprocess.run(
        [sys.executable, "-m", "nanocomplete", "bench", "replay", "--show", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == text
    # the arms read back from their records give the run's own ratios (how a rerun pairs with a peer arm)
    again = replay.ratios(replay.arm_units(tmp_path / "served"), replay.arm_units(tmp_path / "peer"))
    for key, value in result["served_over_peer"].items():
        assert again[key]["value"] == pytest.approx(value["value"]), key
    # arms joined by commas are pooled: the same arm twice on both sides, twice the visits, the same ratios
    served, peer_arm = str(tmp_path / "served"), str(tmp_path / "peer")
    single, pooled = (
        replay.paired_arms(served, peer_arm),
        replay.paired_arms(f"{served},{served}", f"{peer_arm},{peer_arm}"),
    )
    visits = len(replay.arm_units(tmp_path / "served"))
    assert f", {visits} visits" in single and f", {2 * visits} visits" in pooled
    values = [text.split("both: ")[1].split(" [")[0] for text in (single, pooled)]
    assert values[0] == values[1] and values[0].startswith("latency_ms_p50 ")
    # as many folders on each side, or nothing is paired
    with pytest.raises(ValueError, match="2 against 1"):
        replay.paired_arms(f"{served},{served}", peer_arm)
    with pytest.raises(ValueError, match=r"no requests.jsonl.gz in .*nowhere"):
        replay.paired_arms(served, str(tmp_path / "nowhere"))
    # records written before `expected` existed still read back
    old = tmp_path / "old"
    old.mkdir()
    rows = replay.read_requests(tmp_path / "served")
    (old / "requests.jsonl").write_text(  # uncompressed, as replays before 2026-12-04 wrote them
        "".join(json.dumps({k: v for k, v in r.items() if k != "expected"}) + "\n" for r in rows)
    )
    shutil.copy(tmp_path / "served" / "results.jsonl", old / "results.jsonl")
    assert [u.accepted_chars for u in replay.arm_units(old)] == [
        u.accepted_chars for u in replay.arm_units(tmp_path / "served")
    ]


def test_the_replay_gate_counts_typed_through_characters_with_the_answer_they_came_from(tmp_path):
    def row(kind, completion, logprob, accepted, answered=True, visit=0, path="a.ts"):
        return {"repo": "r", "visit": visit, "path": path, "kind": kind, "completion": completion,
                "mean_logprob": logprob, "accepted_chars": accepted, "model_answered": answered,
                "tier": "fast"}  # fmt: skip

    first, second = tmp_path / "one", tmp_path / "two"
    arms = {
        first: [
            row("new_line", "return x", -0.6, 3),
            row("mid_line", "zz", -0.1, 0, path="b.ts"),  # another file's answer: a.ts's stays cached
            row("mid_line", "rn x", None, 4, answered=False),  # typed through the first answer
            row("mid_line", "", None, 0),  # an empty answer ends the first one
            row("mid_line", "stale", None, 5, answered=False),  # not counted: nothing is shown
            row("mid_line", "foo()", -0.1, 0, visit=1),
            row("mid_line", "bar", -2.5, 2, visit=1),
            row("mid_line", "ar", None, 1, answered=False, visit=2),  # typed through across visits
        ],
        second: [row("new_line", "x = 1", None, 5)],  # no tokens to judge: every gate shows it
    }
    for folder, rows in arms.items():
        folder.mkdir()
        (folder / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = {
        r["min_mean_logprob"]: r for r in replay.gate_tradeoff([first, second], (-99.0, -1.0, -0.5), -0.5)
    }
    assert [found[t]["shown"] for t in (-99.0, -1.0, -0.5)] == [5, 4, 3]
    assert [found[t]["accepted_chars"] for t in (-99.0, -1.0, -0.5)] == [15, 12, 5]
    assert found[-1.0]["new_line_accepted_chars"] == 12
    assert found[-1.0]["accepted_kept_share"] == 12 / 15 and found[-1.0]["accepted_share"] == 0.5
    rows = replay.gate_tradeoff([first, second], (-99.0, -1.0), reference=-1.0)
    assert rows[0]["vs_reference"][0] == 15 / 12 and rows[1]["vs_reference"] == (1.0, 1.0, 1.0)
    low, high = rows[0]["vs_reference"][1:]
    assert 1.0 <= low <= 15 / 12 <= high  # resampled over the three visits that have answers
    # an `auto` arm: the threshold varies for one tier's answers, the other's stay at the reference
    quality = {**row("new_line", "if x:", -0.9, 4, visit=3), "tier": "quality"}
    (second / "requests.jsonl").write_text(json.dumps(quality) + "\n")
    by_tier = {
        r["min_mean_logprob"]: r
        for r in replay.gate_tradeoff([first, second], (-99.0, -1.0, -0.5), -1.0, tier="quality")
    }
    assert [by_tier[t]["shown"] for t in (-99.0, -1.0, -0.5)] == [1, 1, 0]  # the quality answer alone
    # fast's answers at the reference (-1.0): "return x" with the 4 typed through it, 7 characters
    assert [by_tier[t]["accepted_chars"] for t in (-99.0, -1.0, -0.5)] == [11, 11, 7]
    with pytest.raises(ValueError, match="no answers of tier 'quality'"):
        replay.gate_tradeoff([first], (-99.0,), -0.5, tier="quality")
    # an arm run with the gate on cannot say what a looser gate would show
    (first / "requests.jsonl").write_text(json.dumps(row("mid_line", "", -0.9, 0)) + "\n")
    with pytest.raises(ValueError, match="min-mean-logprob -99"):
        replay.gate_tradeoff([first], (-99.0,), -0.5)


def test_a_miss_is_classed_by_the_first_reason_that_holds(tmp_path):
    # examples from replay v17's records
    assert replay.miss_kind("})", "})\n    this._sync.setDeps({") == "right_but_short"
    assert replay.miss_kind("        if stream:\n", "\n        result: RunResultBase") == "enter_expected"
    assert replay.miss_kind("= x + 1", "\nfoo()") == "enter_expected"  # the line was done
    assert replay.miss_kind("\n    return x", "\nfoo()") == "wrong_from_first_char"  # Enter, then wrong
    assert replay.miss_kind("    return value", "  return value\n}") == "indentation_differs"
    assert replay.miss_kind("x = 1", "# Partially truncate text items") == "comment_expected"
    assert replay.miss_kind("is None:", "is not None:") == "wrong_after_first_chars"
    assert replay.miss_kind("  ", "  foo") == "right_but_short"  # whitespace only: nothing to take
    assert replay.miss_kind("    tool_result = a", "    task = a") == "wrong_after_first_chars"
    assert replay.miss_kind("referenceIdentity(value)", "equalityIdentity(value)") == "wrong_from_first_char"

    def row(kind, completion, accepted, expected, answered=True, path="a.ts"):
        return {"repo": "r", "visit": 0, "path": path, "kind": kind, "completion": completion,
                "mean_logprob": -0.1 if answered else None, "accepted_chars": accepted,
                "model_answered": answered, "tier": "fast", "expected": expected}  # fmt: skip

    arm = tmp_path / "served"
    arm.mkdir()
    rows = [
        row("new_line", "is None:", 0, "is not None:"),  # "is" is under the typist's 3 characters
        row("mid_line", " None:", 0, " not None:", answered=False),  # typed through: the first answer's
        row("mid_line", "})", 0, "})\n"),
        row("first_in_file", "foo()", 0, "bar()", path="b.ts"),
        row("mid_line", "ar()", 4, "ar()", answered=False, path="b.ts"),  # accepted later from b.ts's
    ]
    (arm / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = replay.miss_table([arm])
    assert list(table) == ["accepted", *replay.MISS_KINDS]
    assert table["accepted"] == {"new_line": 0, "mid_line": 0, "other": 1}
    assert table["wrong_after_first_chars"]["new_line"] == 1 and table["right_but_short"]["mid_line"] == 1
    assert sum(sum(kinds.values()) for kinds in table.values()) == 3
    (arm / "requests.jsonl").write_text(json.dumps({**rows[0], "expected": None}) + "\n")
    with pytest.raises(ValueError, match="without `expected`"):
        replay.miss_table([arm])
