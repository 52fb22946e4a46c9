"""The real server on loopback with the real 0.5B engine: completions, KV reuse across files, typing
through, cancellation, warmup preemption, error statuses, compatibility endpoints, events and metrics."""

import dataclasses
import json
import threading
import time

import httpx
import pytest
from server_harness import RunningServer, free_port

from nanocomplete.config import ServerConfig
from nanocomplete.errors import EngineError
from nanocomplete.scheduler import WARM_BATCH_TOKENS

CODE = (
    "import math\n\n\n"
    "def circle_area(radius: float) -> float:\n"
    '    """Area of a circle."""\n'
    "    return math.pi * radius ** 2\n\n\n"
)


def long_file(name: str, functions: int) -> str:
    body = "".join(
        f"def {name}_{i}(value: int) -> int:\n    '''Step {i} of the {name} pipeline.'''\n    return value * {i} + {i % 7}\n\n\n"
        for i in range(functions)
    )
    return body + f"def {name}_total(value: int) -> int:\n    return "


def complete(client, uri, text, **extra):
    lines = text.split("\n")
    body = {
        "uri": uri,
        "text": text + "\n",
        "cursor": {"line": len(lines) - 1, "character": len(lines[-1])},
        **extra,
    }
    response = client.post("/v1/complete", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def served_engine():
    from nanocomplete import models
    from nanocomplete.config import EngineConfig
    from nanocomplete.engine import Engine

    return Engine.for_model(models.DEFAULT_MODEL, EngineConfig(context_window_tokens=4096, batch_tokens=64))


@pytest.fixture
def served_model_server(served_engine, tmp_path):
    served_engine.reset()
    with RunningServer(served_engine, tmp_path) as running:
        yield running


@pytest.fixture
def server(engine, tmp_path):
    engine.reset()
    with RunningServer(engine, tmp_path) as running:
        yield running


@pytest.fixture
def unbounded_server(engine, tmp_path):
    """The serving settings without the bound for cold requests: a file's first request evaluates its
    whole prompt, as a file the editor warmed on opening has it (tests of what its snapshot keeps)."""
    engine.reset()
    with RunningServer(engine, tmp_path, settings=bounded_settings(0)) as running:
        yield running


def test_health_names_the_server_the_model_and_the_index_bounds(server):
    with server.client() as client:
        health = client.get("/health").json()
    assert {k: health[k] for k in ("status", "name", "model", "version")} == {
        "status": "ok", "name": "nanocomplete", "model": "test-model", "version": "0.1.0"
    }  # fmt: skip
    assert health["index"]["workspaces"] == [] and health["index"]["limits"]["index_max_files"] > 0


def test_health_answers_a_head_probe_without_a_body(server):
    with server.client() as client:
        probe = client.head("/health")
    assert probe.status_code == 200 and probe.content == b""


def test_a_completion_has_text_range_confidence_and_timings(server):
    with server.client() as client:
        body = complete(
            client, "file:///w/area.py", CODE + "def square_area(side: float) -> float:\n    return "
        )
    assert body["completion"].startswith("side")
    assert body["replace_range"]["start"] == body["replace_range"]["end"] == {"line": 9, "character": 11}
    assert body["confidence"]["min_logprob"] <= body["confidence"]["mean_logprob"] <= 0
    timings = body["timings"]
    assert timings["prompt_tokens_evaluated"] + timings["prompt_tokens_reused"] == timings["prompt_tokens"]
    assert timings["total_ms"] >= timings["prompt_ms"] + timings["generation_ms"]


def test_accepting_after_a_space_or_indentation_gives_no_double_space(server):
    with server.client() as client:
        after_space = complete(
            client, "file:///w/area.py", CODE + "def square_area(side: float) -> float:\n    return "
        )
        after_indent = complete(
            client, "file:///w/b.py", CODE + "def square_area(side: float) -> float:\n    "
        )
    assert after_space["completion"][:1] not in (" ", "\t")
    assert after_indent["completion"][:1] not in (" ", "\t")


def test_typing_through_a_shown_completion_needs_no_model(server):
    text = CODE + "def square_area(side: float) -> float:\n    return "
    with server.client() as client:
        first = complete(client, "file:///w/area.py", text)
        shown = first["completion"]
        assert len(shown) > 2
        second = complete(client, "file:///w/area.py", text + shown[:2])
    assert second["cache"] == "result_cache" and second["timings"] is None
    assert second["completion"] == shown[2:]


def test_returning_to_a_file_restores_its_kv_snapshot(unbounded_server):
    server = unbounded_server
    first, other = long_file("alpha", 20), long_file("beta", 20)
    with server.client() as client:
        cold = complete(client, "file:///w/alpha.py", first)
        complete(client, "file:///w/beta.py", other)
        back = complete(client, "file:///w/alpha.py", first + "value")
    assert cold["timings"]["prompt_tokens_reused"] == 0
    assert back["cache"] == "snapshot"
    assert back["timings"]["prompt_tokens_evaluated"] <= 8
    assert back["timings"]["prompt_ms"] < cold["timings"]["prompt_ms"] / 4
    assert server.service.scheduler.stats.snapshot_restores >= 1


def complete_at(client, uri, text, line, character):
    body = {"uri": uri, "text": text, "cursor": {"line": line, "character": character}}
    response = client.post("/v1/complete", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_jump_inside_a_file_and_back_restores_the_region_it_left(unbounded_server):
    server = unbounded_server
    text = long_file("gamma", 60) + "\n"  # ~1,900 tokens: the windows at its end and at its top differ
    lines = text.split("\n")
    end = (len(lines) - 2, len(lines[-2]))
    with server.client() as client:
        complete_at(client, "file:///w/gamma.py", text, *end)
        top = complete_at(client, "file:///w/gamma.py", text, 2, len(lines[2]))  # the first function's return
        back = complete_at(client, "file:///w/gamma.py", text[:-1] + "value\n", end[0], end[1] + 5)
    assert top["timings"]["prompt_tokens_evaluated"] > 200  # its window was not cached
    assert back["cache"] == "snapshot" and back["timings"]["prompt_tokens_evaluated"] <= 8
    assert set(server.service.scheduler.snapshots.keys()) == {
        "file:///w/gamma.py",
        "file:///w/gamma.py#region-0",
    }


def test_a_restarted_server_answers_a_known_file_from_its_snapshot_on_disk(engine, tmp_path):
    text = long_file("delta", 20)
    config = ServerConfig(port=free_port(), kv_snapshot_dir=str(tmp_path / "kv"))
    engine.reset()
    whole = bounded_settings(0)  # the file's whole prompt evaluated, as a warmed file has it
    with RunningServer(engine, tmp_path, whole, config) as first, first.client() as client:
        cold = complete(client, "file:///w/delta.py", text)
    engine.reset()  # a new process starts with an empty KV cache
    restarted = ServerConfig(port=free_port(), kv_snapshot_dir=str(tmp_path / "kv"))
    with RunningServer(engine, tmp_path, whole, restarted) as second, second.client() as client:
        warm = complete(client, "file:///w/delta.py", text + "value")
    assert cold["timings"]["prompt_tokens_reused"] == 0
    assert warm["cache"] == "snapshot" and warm["timings"]["prompt_tokens_evaluated"] <= 8


SHAPES = "\n" + "".join(
    f"\n\ndef shape_{i}(size: float) -> float:\n    return size * {i}.5\n" for i in range(12)
)


def ask_at_end_of(client, prefix: str, right_of_cursor: str = "") -> dict:
    """A completion at the end of `prefix`, with `right_of_cursor` on the cursor's line and SHAPES after."""
    lines = prefix.split("\n")
    body = {
        "uri": "file:///w/shapes.py",
        "text": prefix + right_of_cursor + SHAPES,
        "cursor": {"line": len(lines) - 1, "character": len(lines[-1])},
    }
    response = client.post("/v1/complete", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_new_line_evaluates_its_own_tokens_not_the_suffix_again(server):
    before = CODE + "def rectangle_area(width: float, height: float) -> float:\n    area = width * "
    with server.client() as client:
        ask_at_end_of(client, before)
        new_line = ask_at_end_of(client, before + "height * 1.0  # square metres\n    ")
    assert new_line["cache"] != "result_cache"
    timings = new_line["timings"]
    assert timings["prompt_tokens"] - timings["prompt_tokens_evaluated"] > 150  # the suffix stayed cached
    assert timings["prompt_tokens_evaluated"] <= 16  # the ~10 tokens typed since, and no suffix


def test_typing_a_bracket_the_editor_closes_evaluates_its_own_tokens_not_the_suffix_again(server):
    before = CODE + "def rectangle_area(width: float, height: float) -> float:\n    return max(width"
    with server.client() as client:
        ask_at_end_of(client, before, ")")
        opened = ask_at_end_of(client, before + " * abs(", "))")  # the editor closed the new bracket too
        stepped_over = ask_at_end_of(
            client, before + " * abs(height)", ")"
        )  # the typed `)` stepped over its own
    for answer in (opened, stepped_over):
        timings = answer["timings"]
        assert answer["cache"] != "result_cache"
        assert timings["prompt_tokens"] - timings["prompt_tokens_evaluated"] > 150  # the suffix stayed cached
        assert timings["prompt_tokens_evaluated"] <= 8  # the few tokens typed since
    line, character = 9, len("    return max(width * abs(")
    covered = opened["replace_range"]["end"]["character"] - character
    assert opened["replace_range"]["start"] == {"line": line, "character": character} and covered in (0, 2)


def bounded_settings(cold_prompt_tokens: int):
    from nanocomplete.completion import Settings
    from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT

    prompt = dataclasses.replace(SERVING_PROMPT, cold_prompt_tokens=cold_prompt_tokens)
    return Settings(prompt=prompt, postprocess=SERVING_POSTPROCESS)


THETA_SCALE = "".join(
    f"def theta_scale_{i}(value: int) -> int:\n    return value * {i}\n\n" for i in range(30)
)  # ~600 tokens (a recent snippet must fit the context budget whole)


def ask_bounded_with_theta_scale(engine, tmp_path, caplog, text: str, settings) -> tuple[dict, dict]:
    """The answer for `text` with THETA_SCALE as a recent snippet, and the prompt the server logged."""
    config = ServerConfig(port=free_port(), log_prompts=True)
    engine.reset()
    with (
        RunningServer(engine, tmp_path, settings=settings, config=config) as running,
        running.client() as client,
        caplog.at_level("INFO", logger="nanocomplete.prompts"),
    ):
        recent = [{"path": "scale.py", "text": THETA_SCALE}]
        answer = complete(client, "file:///w/theta.py", text, recent=recent)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "nanocomplete.prompts"]
    assert answer["cold_prompt"] is True
    assert logged[0]["context_files"] == ["scale.py"] and "def theta_scale_0" in logged[0]["prompt"]
    return answer, logged[0]


def test_a_bounded_prompt_shows_the_head_of_the_other_files_within_its_budget(engine, tmp_path, caplog):
    settings = bounded_settings(256)
    settings = dataclasses.replace(
        settings, prompt=dataclasses.replace(settings.prompt, cold_context_tokens=64)
    )
    text = long_file("theta", 40)  # ~940 prompt tokens
    answer, logged = ask_bounded_with_theta_scale(engine, tmp_path, caplog, text, settings)
    assert answer["timings"]["prompt_tokens_evaluated"] <= 256
    used = logged["prompt_tokens"]
    assert used["context"] >= 48 and sum(used.values()) + 3 <= 256  # reserved, and what the text left


def test_a_small_files_bounded_prompt_fills_what_its_text_leaves_with_other_files(engine, tmp_path, caplog):
    text = (
        "def theta_scale_1(value: int) -> int:\n    return value * 1\n\n\n"
        "def theta_total(value: int) -> int:\n    return theta_scale_1(value) + theta_scale_"
    )  # ~45 tokens: the rest is room; with the snippet, the full prompt is over the bound
    answer, logged = ask_bounded_with_theta_scale(engine, tmp_path, caplog, text, bounded_settings(256))
    assert answer["timings"]["prompt_tokens_evaluated"] <= 256
    used = logged["prompt_tokens"]
    assert used["context"] >= 150 and sum(used.values()) + 3 <= 256  # the budget the file's text left


def wait_for_warmups(service, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while service.scheduler.stats.warmups < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.scheduler.stats.warmups >= count


def test_a_new_file_answers_from_a_bounded_prompt_while_the_full_one_warms(engine, tmp_path):
    text = long_file("epsilon", 40)  # ~940 prompt tokens
    engine.reset()
    with (
        RunningServer(engine, tmp_path, settings=bounded_settings(256)) as running,
        running.client() as client,
    ):
        first = complete(client, "file:///w/epsilon.py", text)
        wait_for_warmups(running.service, 1)
        second = complete(client, "file:///w/epsilon.py", text + "qq")  # not what it suggested
    assert first["cold_prompt"] is True and first["timings"]["prompt_tokens_evaluated"] <= 256
    assert first["completion"]  # the bounded prompt still answers
    assert second["cold_prompt"] is False
    assert second["timings"]["prompt_tokens"] > 3 * 256 and second["timings"]["prompt_tokens_evaluated"] <= 8


def test_back_to_back_requests_on_a_new_file_stay_within_the_bound_and_reach_the_full_prompt(
    engine, tmp_path
):
    text = long_file("eta", 40)  # ~940 prompt tokens; nothing waits for the background warmup
    engine.reset()
    with (
        RunningServer(engine, tmp_path, settings=bounded_settings(256)) as running,
        running.client() as client,
    ):
        answers = [
            complete(client, "file:///w/eta.py", text + typed)
            for typed in ("q", "qu", "qua", "quar", "quart")
        ]
    modelled = [answer for answer in answers if answer["timings"] is not None]
    assert all(answer["timings"]["prompt_tokens_evaluated"] <= 256 for answer in modelled)
    assert modelled[0]["cold_prompt"] is True
    assert sum(answer["timings"]["warm_share_tokens"] for answer in modelled) > 256  # not idle warmups
    assert modelled[-1]["cold_prompt"] is False, [answer["cold_prompt"] for answer in modelled]
    assert modelled[-1]["timings"]["prompt_tokens"] > 3 * 256


def test_a_warmup_on_open_primes_the_bounded_prompt_first(engine, tmp_path):
    text = long_file("zeta", 40)
    body = {
        "uri": "file:///w/zeta.py",
        "text": text + "\n",
        "cursor": {"line": text.count("\n"), "character": 0},
    }
    engine.reset()
    with (
        RunningServer(engine, tmp_path, settings=bounded_settings(256)) as running,
        running.client() as client,
    ):
        assert client.post("/v1/warm", json=body).json() == {"queued": True}
        wait_for_warmups(running.service, 1)  # the bounded prompt; the full one may still be warming
        lines = text.split("\n")
        answer = complete(client, "file:///w/zeta.py", text + "qq")
    timings = answer["timings"]
    assert timings["prompt_tokens_evaluated"] - timings["warm_share_tokens"] <= 8, lines[-1]
    assert answer["cold_prompt"] is True and timings["prompt_tokens_evaluated"] <= 256


def test_a_newer_request_for_the_same_document_cancels_the_older(unbounded_server):
    server = unbounded_server  # the whole ~940-token prompt: evaluating it outlasts the 0.3 s below
    slow = long_file("gamma", 40)
    results = {}

    def first():
        with server.client() as client:
            results["first"] = complete(client, "file:///w/gamma.py", slow)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.3)  # the first request is evaluating its prompt
    with server.client() as client:
        results["second"] = complete(client, "file:///w/gamma.py", slow + "v")
    thread.join()
    assert results["first"]["cancelled"] is True and results["first"]["completion"] == ""
    assert results["second"]["cancelled"] is False


def test_a_client_that_goes_away_cancels_its_completion(unbounded_server):
    server = unbounded_server  # the whole ~940-token prompt: evaluating it outlasts the client's 0.3 s
    slow = long_file("delta", 40)
    with server.client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        complete(client, "file:///w/delta.py", slow)
    deadline = time.monotonic() + 10
    while server.service.scheduler.stats.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.service.scheduler.stats.cancelled >= 1


def one_warmup_batch_ms(engine, text: str) -> float:
    """How long this CPU and build take to evaluate one warmup batch after a few cached tokens."""
    tokens = engine.tokenize(text)
    engine.reset()
    engine.prefill(tokens[:8])
    started = time.perf_counter()
    engine.prefill(tokens[: 8 + WARM_BATCH_TOKENS])
    elapsed_ms = (time.perf_counter() - started) * 1000
    engine.reset()
    return elapsed_ms


def test_a_completion_during_a_long_warmup_interrupts_the_batch_in_progress(server):
    warm_text = long_file("epsilon", 60)
    batch_ms = one_warmup_batch_ms(server.service.engine, warm_text)
    with server.client() as client:
        lines = warm_text.split("\n")
        cursor = {"line": len(lines) - 1, "character": len(lines[-1])}
        assert (
            client.post(
                "/v1/warm", json={"uri": "file:///w/eps.py", "text": warm_text, "cursor": cursor}
            ).status_code
            == 202
        )
        time.sleep(0.3)  # the warmup is running
        body = complete(
            client, "file:///w/area.py", CODE + "def square_area(side: float) -> float:\n    return "
        )
    stats = server.service.scheduler.stats
    assert stats.preempted_warmups >= 1
    # llama.cpp's abort callback stops the batch in flight within milliseconds; were the completion to
    # wait for the batch's end, it would wait half a batch on average (the full warmup is ~30 batches)
    assert body["timings"]["queue_ms"] < max(150, batch_ms / 4)


@pytest.mark.parametrize(
    ("payload", "status", "kind"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"uri": "\xff"}', 400, "invalid_utf8"),
        (json.dumps({"uri": "x"}).encode(), 422, "invalid_request"),
        (
            json.dumps({"uri": "x", "text": "a", "cursor": {"line": 3, "character": 0}}).encode(),
            400,
            "invalid_request",
        ),
        (
            json.dumps({"uri": "x", "text": "ab", "cursor": {"line": 0, "character": 9}}).encode(),
            400,
            "invalid_request",
        ),
        (
            json.dumps({"uri": "x", "prefix": "a", "suffix": "", "model": "gpt-17"}).encode(),
            400,
            "invalid_request",
        ),
        (
            json.dumps({"uri": "x", "prefix": "a", "suffix": "", "surprise": 1}).encode(),
            422,
            "invalid_request",
        ),
        (
            json.dumps({"uri": "x", "prefix": "a", "suffix": "", "max_tokens": "5"}).encode(),
            422,
            "invalid_request",
        ),
        (
            json.dumps({"uri": "x", "text": "a", "cursor": {"line": "0", "character": 0}}).encode(),
            422,
            "invalid_request",
        ),
        (json.dumps({"uri": "x", "prefix": "a" * 5_000_001, "suffix": ""}).encode(), 413, "too_large"),
        (  # RE2 compiles a request's globs as one set: these overflowed it (a 503 before)
            json.dumps(
                {
                    "uri": "x",
                    "prefix": "a",
                    "suffix": "",
                    "disabled_files": ["*a" * 149 + str(i) for i in range(64)],
                }
            ).encode(),
            422,
            "invalid_request",
        ),
        (  # 13 globs under the characters' bound that expand 64-fold: ~2 s on the event loop each (before)
            json.dumps(
                {
                    "uri": "x",
                    "prefix": "a",
                    "suffix": "",
                    "disabled_files": ["{a,b}" * 6 + "*" * 266 + f"{k:03d}" for k in range(13)],
                }
            ).encode(),
            422,
            "invalid_request",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(server, payload, status, kind):
    with server.client() as client:
        response = client.post("/v1/complete", content=payload, headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
        assert response.json()["error"]["type"] == kind and response.json()["error"]["message"]
        assert client.get("/health").status_code == 200


def test_a_document_with_text_but_no_cursor_is_told_what_it_sent(server):
    with server.client() as client:
        response = client.post("/v1/complete", json={"uri": "x", "text": "a = 1\n"})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "`text` with `cursor`" in message and "this request has `text`" in message


def test_a_client_that_sends_a_whole_body_too_large_before_reading_gets_the_413(server):
    import urllib.error
    import urllib.request

    body = b'{"uri": "x", "prefix": "' + b"a" * 5_000_000 + b'", "suffix": ""}'
    request = urllib.request.Request(
        f"{server.url}/v1/complete", data=body, headers={"content-type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:  # not a connection reset
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413 and b"too_large" in refused.value.read()
    with server.client() as client:
        assert client.get("/health").status_code == 200


def test_json_sent_without_a_json_content_type_is_told_to_send_one(server):
    body = json.dumps({"uri": "x", "prefix": "a = ", "suffix": ""})
    with server.client() as client:
        response = client.post("/v1/complete", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert "content-type: application/json" in response.json()["error"]["message"]


def test_an_engine_failure_is_a_503_and_the_next_request_works(server, monkeypatch):
    real_generate = server.service.engine.generate
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise EngineError("llama.cpp decode failed: simulated")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(server.service.engine, "generate", failing_once)
    with server.client() as client:
        body = {"uri": "x", "prefix": "def add(a, b):\n    return ", "suffix": "\n"}
        failed = client.post("/v1/complete", json=body)
        assert failed.status_code == 503 and "simulated" in failed.json()["error"]["message"]
        assert client.post("/v1/complete", json={**body, "uri": "y"}).status_code == 200


def test_llama_cpp_infill_compatibility(server):
    with server.client() as client:
        response = client.post(
            "/infill",
            json={
                "input_prefix": "def add(a, b):\n",
                "prompt": "    return ",
                "input_suffix": "\n",
                "input_extra": [{"filename": "util.py", "text": "def helper():\n    pass\n"}],
                "n_predict": 16,
                "cache_prompt": True,
                "samplers": ["top_k"],
            },
        )
    body = response.json()
    assert response.status_code == 200 and body["content"].startswith("a + b")
    assert body["stop"] is True and body["timings"]["predicted_n"] >= 1 and body["timings"]["prompt_n"] > 0


STATS_PREFIX = "def mean_and_variance(values):\n    n = len(values)\n"


def test_a_requests_max_generation_ms_takes_the_place_of_the_servers_setting(server):
    body = {"prefix": STATS_PREFIX, "suffix": "", "max_tokens": 32}
    with server.client() as client:
        ask = lambda uri, **extra: client.post("/v1/complete", json={**body, "uri": uri, **extra})  # noqa: E731
        unset, unlimited, limited = ask("a"), ask("b", max_generation_ms=0), ask("c", max_generation_ms=1)
        # llama.vscode sends llama-server's t_max_predict_ms (500) with each /infill; ours reads it
        infill = {"input_prefix": STATS_PREFIX, "input_suffix": "", "n_predict": 32}
        infill_limited = client.post("/infill", json={**infill, "t_max_predict_ms": 1})
        infill_unlimited = client.post("/infill", json={**infill, "t_max_predict_ms": -1})
        infill_capped = client.post("/infill", json={**infill, "t_max_predict_ms": 10**12})  # at 60,000 ms
        raw = {"prompt": STATS_PREFIX, "n_predict": 32}  # /completion: text to continue
        raw_limited = client.post("/completion", json={**raw, "t_max_predict_ms": 1})
        openai = {"prompt": STATS_PREFIX, "suffix": "", "max_tokens": 32}
        openai_limited = client.post("/v1/completions", json={**openai, "max_generation_ms": 1}).json()
        refused = [ask("d", max_generation_ms=-1), ask("e", max_generation_ms=60_001)]
    lines = lambda text: len([line for line in text.split("\n") if line.strip()])  # noqa: E731
    # the test server's own max_generation_ms is 0 (none): unset and 0 answer alike, at least two lines
    assert unset.json()["completion"] == unlimited.json()["completion"]
    assert lines(unlimited.json()["completion"]) >= 2
    assert lines(limited.json()["completion"]) == 1
    assert unlimited.json()["completion"].startswith(limited.json()["completion"])
    assert limited.json()["stop_reason"] == "max_generation_ms" != unlimited.json()["stop_reason"]
    assert openai_limited["choices"][0]["finish_reason"] == "length"
    assert lines(openai_limited["choices"][0]["text"]) == 1
    assert lines(infill_limited.json()["content"]) == 1 and lines(infill_unlimited.json()["content"]) >= 2
    assert lines(infill_capped.json()["content"]) >= 2 and lines(raw_limited.json()["content"]) == 1
    assert [r.status_code for r in refused] == [422, 422]


def test_openai_completions_compatibility(server):
    request = {
        "model": "test-model",
        "prompt": "def add(a, b):\n    return ",
        "suffix": "\n",
        "max_tokens": 16,
    }
    with server.client() as client:
        plain = client.post("/v1/completions", json=request).json()
        stream = client.post("/v1/completions", json={**request, "stream": True})
        # the schema allows OpenAI's 1,024, as llama-server's: more than ours is capped, not refused
        capped = client.post("/v1/completions", json={**request, "max_tokens": 1000})
    assert capped.status_code == 200, capped.text
    assert plain["object"] == "text_completion" and plain["choices"][0]["text"].startswith("a + b")
    assert (
        plain["usage"]["total_tokens"]
        == plain["usage"]["prompt_tokens"] + plain["usage"]["completion_tokens"]
    )
    chunks = [line for line in stream.text.split("\n") if line.startswith("data: ")]
    assert (
        json.loads(chunks[0][6:])["choices"][0]["text"].startswith("a + b") and chunks[-1] == "data: [DONE]"
    )


def test_events_are_stored_locally_and_counted_in_metrics(server):
    events = [
        {"request_id": "r1", "kind": "shown", "shown_chars": 12, "language": "python"},
        {"request_id": "r1", "kind": "accepted", "accepted_chars": 12},
        {"request_id": "r2", "kind": "rejected", "shown_chars": 5, "text": "secret code"},
    ]
    with server.client() as client:
        assert client.post("/v1/events", json={"events": events}).json() == {"stored": 3}
        complete(client, "file:///w/m.py", "def add(a, b):\n    return ")
        metrics = client.get("/metrics").text
    assert server.service.events.counts() == {"shown": 1, "accepted": 1, "rejected": 1}
    stored = server.service.events._connection.execute("SELECT text FROM events").fetchall()
    assert stored == [(None,), (None,), (None,)]  # no code is kept unless the user opts in
    assert 'nanocomplete_events_total{kind="accepted"} 1.0' in metrics
    assert "nanocomplete_acceptance_ratio 1.0" in metrics
    assert "nanocomplete_completion_latency_seconds_count 1.0" in metrics


def test_a_one_tier_server_counts_its_completions_by_tier_in_metrics(server):
    with server.client() as client:
        answer = complete(client, "file:///w/tiered.py", "def sub(a, b):\n    return ")
        metrics = client.get("/metrics").text
    assert (answer["tier"], answer["tier_reason"]) == ("fast", "asked")
    assert 'nanocomplete_tier_completions_total{reason="asked",tier="fast"} 1.0' in metrics


def test_an_api_token_is_required_when_configured(engine, tmp_path):
    config = ServerConfig(port=free_port(), api_token="s3cret")
    with RunningServer(engine, tmp_path, config=config) as running, running.client() as client:
        body = {"uri": "x", "prefix": "x = ", "suffix": "\n", "max_tokens": 2}
        assert client.post("/v1/complete", json=body).status_code == 401
        ok = client.post("/v1/complete", json=body, headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        (
            {"Host": "evil.example:8012"},
            403,
            "forbidden_host",
        ),  # DNS rebinding: a page's own name → 127.0.0.1
        ({"Host": "localhost.evil.example"}, 403, "forbidden_host"),
        ({"Host": "127.0.0.1.nip.io:8012"}, 403, "forbidden_host"),
        ({"Host": "localhost:8012"}, 200, None),
        ({"Host": "LOCALHOST"}, 200, None),
        ({"Host": "[::1]:9000"}, 200, None),
        ({"Host": "[::1].evil.example"}, 403, "forbidden_host"),
        ({"Origin": "https://evil.example"}, 403, "forbidden_origin"),
        ({"Origin": "null"}, 403, "forbidden_origin"),  # sandboxed iframes and file:// pages
        ({"Origin": "vscode-webview://1234abcd"}, 200, None),
    ],
)
def test_on_loopback_only_loopback_host_names_and_editor_origins_are_answered(server, headers, status, kind):
    with server.client() as client:
        for method, path, body in (
            ("GET", "/health", None),
            ("POST", "/v1/complete", {"uri": "a.py", "prefix": "x = ", "suffix": ""}),
        ):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (path, response.text)
            if kind:
                assert response.json()["error"]["type"] == kind
                assert "allowed_" in response.json()["error"]["message"]
        assert client.get("/health").status_code == 200  # still serving


def test_the_host_and_origin_allow_lists_are_settings(engine, tmp_path):
    config = ServerConfig(
        port=free_port(), allowed_hosts="nanocomplete.test", allowed_origins="https://ide.example"
    )
    with RunningServer(engine, tmp_path, config=config) as running, running.client() as client:
        assert client.get("/health", headers={"Host": "nanocomplete.test:1"}).status_code == 200
        assert client.get("/health").status_code == 403  # 127.0.0.1 is no longer listed
        allowed = {"Host": "nanocomplete.test", "Origin": "https://ide.example"}
        assert client.get("/health", headers=allowed).status_code == 200
    everywhere = ServerConfig(port=free_port(), host="0.0.0.0", api_token="t")
    assert not everywhere.listens_on_loopback()  # a LAN server is reached by other names; its token guards it


@pytest.mark.parametrize(
    ("text", "cursor", "message"),
    [
        (
            "ab\ncd",
            {"line": 5, "character": 0},
            "cursor line 5 is out of range: the document has 2 lines, and lines start at 0 (so 0 to 1)",
        ),
        (
            "ab\ncd",
            {"line": 1, "character": 9},
            "cursor character 9 is out of range: line 1 has 2 UTF-16 code units, and characters start at 0 (so 0 to 2",
        ),
        (
            "x = '🚀'\n",
            {"line": 0, "character": 9},
            "line 0 has 8 UTF-16 code units",
        ),  # the emoji is two units
        ("x = '🚀'\n", {"line": 0, "character": 6}, "splits a surrogate pair"),
    ],
)
def test_a_cursor_out_of_range_is_a_400_that_says_what_is_allowed_in_the_apis_terms(
    server, text, cursor, message
):
    with server.client() as client:
        response = client.post("/v1/complete", json={"uri": "a.py", "text": text, "cursor": cursor})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def accept(body: dict, prefix: str, suffix: str) -> str:
    """The document after accepting a /v1/complete answer whose replace range ends at the cursor."""
    return prefix + body["completion"] + suffix


@pytest.mark.parametrize(
    ("uri", "prefix", "suffix", "kept_line"),
    [
        ("file:///w/fib.py", "def fib(n):\n", '# show a greeting\nprint("hi")\n', "# show a greeting"),
        ("file:///w/fib.py", "def fib(n):\n", "print(fib(10))\n", "print(fib(10))"),
        ("file:///w/fib.py", "def fib(n):\n    ", "return n\n", "    return n"),  # after the indentation
        (
            "file:///w/sum.ts",
            "function sum(xs: number[]): number {\n",
            "  return total;\n}\n",
            "  return total;",
        ),
    ],
)
def test_a_cursor_before_a_lines_text_inserts_whole_lines_and_the_line_stays_whole(
    server, uri, prefix, suffix, kept_line
):
    with server.client() as client:
        response = client.post("/v1/complete", json={"uri": uri, "prefix": prefix, "suffix": suffix})
    assert response.status_code == 200, response.text
    body = response.json()
    document = accept(body, prefix, suffix)
    assert kept_line in document.split("\n")  # on its own line, at its own indentation
    if body["completion"]:
        assert body["completion"].rstrip(" \t").endswith("\n")


MINIFIED_JS = "".join(f"function f{i}(a,b){{return a*{i}+b}};var v{i}=f{i}(1,2);" for i in range(260))


@pytest.mark.parametrize(
    ("uri", "prefix", "suffix"),
    [
        ("file:///w/bundle.min.js", MINIFIED_JS, "\n"),  # 10,000 characters, the cursor at the end
        ("file:///w/bundle.min.js", MINIFIED_JS[:5000], MINIFIED_JS[5000:] + "\n"),  # in the middle
        ("file:///w/table.py", "TABLE = {" + ", ".join(f"'k{i}': {i}" for i in range(1500)), "}\n"),
    ],
)
def test_a_minified_or_generated_line_gets_an_answer_from_a_bounded_prompt(
    unbounded_server, uri, prefix, suffix
):
    server = unbounded_server  # the full prompt's budgets (a cold request's bound is below them)
    with server.client() as client:
        response = client.post("/v1/complete", json={"uri": uri, "prefix": prefix, "suffix": suffix})
    assert response.status_code == 200, response.text
    timings = response.json()["timings"]
    assert timings["prompt_tokens"] <= 1024 + 256 + 8  # max_prefix_tokens + max_suffix_tokens + markers


AREA_PREFIX, AREA_SUFFIX = "def area(width, height):\n    return ", "\n\nprint(area(2, 3))\n"


@pytest.mark.parametrize(
    "prompt",
    [
        f"<|fim_prefix|>{AREA_PREFIX}<|fim_suffix|>{AREA_SUFFIX}<|fim_middle|>",  # Continue's Qwen template
        f"<fim_prefix>{AREA_PREFIX}<fim_suffix>{AREA_SUFFIX}<fim_middle>",  # StarCoder's
        f"<PRE> {AREA_PREFIX} <SUF>{AREA_SUFFIX} <MID>",  # Code Llama's
        f"<|repo_name|>shapes\n<|file_sep|>shapes/area.py\n<|fim_prefix|>{AREA_PREFIX}<|fim_suffix|>{AREA_SUFFIX}<|fim_middle|>",
    ],
)
def test_a_client_filled_fim_template_is_read_as_one_on_the_openai_endpoint(server, prompt):
    with server.client() as client:
        templated = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 16}).json()
        plain = client.post(
            "/v1/completions", json={"prompt": AREA_PREFIX, "suffix": AREA_SUFFIX, "max_tokens": 16}
        ).json()
    assert templated["choices"][0]["text"] == plain["choices"][0]["text"]
    assert "width * height" in plain["choices"][0]["text"]
    assert templated["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]  # markers are not text


@pytest.mark.parametrize(
    ("uri", "typed", "word"),
    [
        (
            "file:///w/launch.py",
            '    print("🚀🛰 launched", cou',
            "count",
        ),  # astral characters before the cursor
        ("file:///w/launch.py", '    print("ab launched", cou', "count"),
        ("file:///w/launch.ts", '  console.log("🚀 launched", cou', "count"),
    ],
)
def test_a_finished_line_is_not_written_again(served_model_server, uri, typed, word):
    """With the model `make run` serves (the base model does not loop on these inputs)."""
    server = served_model_server
    head = typed.replace("launched", "launching").rsplit(",", 1)[0] + ", count)"
    opening = "def launch(count):\n" if uri.endswith(".py") else "function launch(count: number) {\n"
    text = f"{opening}{head}\n{typed}"
    lines = text.split("\n")
    cursor = {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}
    with server.client() as client:
        body = client.post("/v1/complete", json={"uri": uri, "text": text + "\n", "cursor": cursor}).json()
    finished = typed + body["completion"].split("\n")[0]
    assert finished.rstrip() not in [line.rstrip() for line in body["completion"].split("\n")[1:]]
    start = body["replace_range"]["start"]
    assert start == cursor  # UTF-16 columns: the emoji are two units each


def apply(text: str, body: dict) -> str:
    """The document after an editor accepts `body` (its completion over its replace range)."""
    lines = text.split("\n")
    start, end = body["replace_range"]["start"], body["replace_range"]["end"]
    assert start["line"] == end["line"]
    line = lines[start["line"]]
    lines[start["line"]] = line[: start["character"]] + body["completion"] + line[end["character"] :]
    return "\n".join(lines)


def imbalance(line: str) -> int:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack, unmatched = [], 0
    for char in line:
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            unmatched += 0 if stack and stack.pop() == pairs[char] else 1
    return unmatched + len(stack) + sum(line.count(q) % 2 for q in "'\"`")


@pytest.mark.parametrize(
    ("uri", "before", "typed", "closers"),
    [
        ("file:///w/sum.test.js", "import { sum } from './sum';\n\n", "describe('sum", "')"),  # the issue's
        ("file:///w/sum.test.ts", "import { sum } from './sum';\n\n", 'it("adds two numbers', '")'),
        (
            "file:///w/App.tsx",
            "export function App() {\n  return <ul>{items.map((item) => ",
            "<li key={item.id",
            "}>",
        ),
        ("file:///w/totals.py", "def total(prices):\n    ", "return sum(prices[", "])"),
        ("file:///w/names.py", "def greet(name):\n    ", 'print(f"hello {name', '}")'),
    ],
)
def test_auto_closed_characters_after_the_cursor_are_not_doubled_when_a_completion_is_accepted(
    served_model_server, uri, before, typed, closers
):
    text = before + typed + closers + "\n"
    lines = (before + typed).split("\n")
    cursor = {"line": len(lines) - 1, "character": len(lines[-1])}
    with served_model_server.client() as client:
        body = client.post("/v1/complete", json={"uri": uri, "text": text, "cursor": cursor}).json()
    accepted = apply(text, body).split("\n")[cursor["line"]]
    assert imbalance(accepted) <= imbalance(typed + closers), (body["completion"], accepted)
    covered = body["replace_range"]["end"]["character"] - cursor["character"]
    assert covered in (0, len(closers))  # all of them or none


def test_a_client_that_inserts_at_the_cursor_never_gets_the_closers_again(served_model_server):
    with served_model_server.client() as client:
        body = client.post(
            "/infill", json={"input_prefix": "describe('sum", "input_suffix": "')\n", "n_predict": 16}
        ).json()
    assert imbalance("describe('sum" + body["content"] + "')") == 0, body["content"]


def test_log_prompts_logs_the_prompt_the_context_the_cache_and_the_timings(engine, tmp_path, caplog):
    engine.reset()
    config = ServerConfig(port=free_port(), log_prompts=True)
    with (
        RunningServer(engine, tmp_path, config=config) as running,
        running.client() as client,
        caplog.at_level("INFO", logger="nanocomplete.prompts"),
    ):
        complete(client, "file:///w/area.py", CODE + "def square_area(side):\n    return ",
                 recent=[{"path": "util.py", "text": "def clamp(x, lo, hi):\n    return x\n"}])  # fmt: skip
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "nanocomplete.prompts"]
    assert len(logged) == 1
    entry = logged[0]
    assert "<|fim_prefix|>" in entry["prompt"] and "def square_area(side):" in entry["prompt"]
    assert entry["context_files"] == ["util.py"] and entry["cache"] in ("miss", "hit", "snapshot")
    assert entry["timings"]["prompt_tokens"] > 0 and entry["prompt_tokens"]["prefix"] > 0


def test_a_stalled_body_is_refused_after_the_read_timeout_and_the_server_keeps_serving(server, monkeypatch):
    import socket

    from nanocomplete import server as server_module

    monkeypatch.setattr(server_module, "BODY_READ_TIMEOUT_S", 1.0)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
        stalled.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n" + b'{"events": ['
        )  # and nothing more
        started = time.monotonic()
        answer = stalled.recv(4096)
        while b"did not arrive" not in answer and (more := stalled.recv(4096)):
            answer += more  # the body may come in a second packet
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive" in answer
    assert time.monotonic() - started < 10
    with server.client() as client:
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"prompt": "def f():\n    return \ud800", "suffix": "\n", "max_tokens": 4}),
        ("/completion", {"prompt": "x = \ud800", "n_predict": 4}),
    ],
)
def test_a_lone_surrogate_on_the_compatibility_endpoints_is_not_a_server_error(server, path, body):
    with server.client() as client:
        response = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
        assert response.status_code < 500, response.text
        assert client.get("/health").status_code == 200


def test_event_numbers_out_of_any_real_range_are_refused(server):
    with server.client() as client:
        for event in ({"kind": "shown", "shown_chars": 2**63}, {"kind": "shown", "latency_ms": "Infinity"}):
            response = client.post(
                "/v1/events",
                content=json.dumps({"events": [event]}),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 422, response.text
            assert "events.0." in response.json()["error"]["message"]


def test_no_page_of_the_server_loads_anything_from_outside_the_machine(server):
    with server.client() as client:
        for path in ("/docs", "/redoc"):
            assert client.get(path).status_code == 404


def test_idle_connections_never_lock_other_clients_out(server):
    import socket

    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
    try:
        with server.client() as client:
            assert client.get("/health").status_code == 200
    finally:
        for connection in idle:
            connection.close()


def test_bodies_in_flight_beyond_their_bound_are_refused_and_the_bound_is_freed(server, monkeypatch):
    from nanocomplete import server as server_module

    body = {"uri": "file:///w/a.py", "prefix": "x = ", "suffix": ""}
    with server.client() as client:
        monkeypatch.setattr(server_module, "MAX_BODY_BYTES_IN_FLIGHT", 10)
        refused = client.post("/v1/complete", json=body)
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "busy"
        monkeypatch.setattr(server_module, "MAX_BODY_BYTES_IN_FLIGHT", 10_000)
        assert client.post("/v1/complete", json=body).status_code == 200  # nothing left counted


def _read_response(connection) -> bytes:
    """One whole response: its headers, then as many body bytes as its content-length says."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(4096)
    head, body = answer.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(4096)
    return head + b"\r\n\r\n" + body


def _read_until_closed(connection) -> bytes:
    answer = b""
    while more := connection.recv(4096):
        answer += more
    return answer


def test_headers_sent_a_byte_at_a_time_are_refused_at_their_deadline_and_the_server_keeps_serving(
    server, monkeypatch
):
    import socket

    from nanocomplete import server as server_module

    monkeypatch.setattr(server_module, "HEADER_READ_TIMEOUT_S", 1.0)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as drip:
        started = time.monotonic()
        for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                drip.sendall(bytes([byte]))  # each byte would reset uvicorn's 5 s keep-alive timeout
            except OSError:
                break  # the server closed the connection
            time.sleep(0.05)
        answer = _read_until_closed(drip)
    assert answer.startswith(b"HTTP/1.1 408") and b"headers did not arrive" in answer
    assert time.monotonic() - started < 4
    with server.client() as client:
        assert client.get("/health").status_code == 200


def test_a_connection_answers_requests_whose_headers_arrive_in_pieces_within_the_deadline(
    server, monkeypatch
):
    import socket

    from nanocomplete import server as server_module

    monkeypatch.setattr(server_module, "HEADER_READ_TIMEOUT_S", 1.0)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        for _ in range(
            3
        ):  # the deadline is armed again after each response: a kept-alive connection lives on
            connection.sendall(b"GET /health HTTP/1.1\r\n")
            time.sleep(0.5)
            connection.sendall(b"Host: 127.0.0.1\r\n\r\n")
            answer = _read_response(connection)  # headers and body may come in separate packets
            assert answer.startswith(b"HTTP/1.1 200"), answer
            time.sleep(0.3)  # past the first deadline in all: 3 x 0.8 s


def test_a_connection_whose_answered_request_keeps_sending_body_is_closed_at_the_deadline(
    server, monkeypatch
):
    import socket

    from nanocomplete import server as server_module

    monkeypatch.setattr(server_module, "HEADER_READ_TIMEOUT_S", 1.0)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
        assert _read_response(connection).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        for _ in range(20):  # a byte of the body uvicorn drops, under its 5 s keep-alive timeout each time
            try:
                connection.sendall(b"x")
            except OSError:
                break  # the server closed the connection
            time.sleep(0.2)
        answer = _read_until_closed(connection)
    assert b"408" in answer and time.monotonic() - started < 4
