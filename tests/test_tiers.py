"""The tiers: routing by trigger context (table), the latency model, and the two-tier service over stand-in
engines (which tier answers, cancellation across tiers, one job on the CPU at a time, the budgets' split),
over real HTTP on loopback; and the real engines' KV size that splits the budgets."""

import threading
import time

import httpx
import pytest
from fakes import FakeEngine

from nanocomplete import api
from nanocomplete.completion import Settings
from nanocomplete.config import SERVING_PROMPT, GenerationConfig, ServerConfig, TierConfig
from nanocomplete.errors import Cancelled, ModelError
from nanocomplete.server import BackgroundServer, create_app, free_port
from nanocomplete.service import CompletionService
from nanocomplete.tiers import TOKENS_AFTER_LIMIT, LatencyModel, TieredService, route


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("def f(x):\n    ", ("quality", "new_line")),  # a new line after auto-indent
        ("x = 1\n", ("quality", "new_line")),
        ("def area(radius):", ("quality", "block_start")),
        ("const point = {", ("quality", "block_start")),
        ("items.map((item) => ", ("quality", "block_start")),
        ("    if total > limit:", ("quality", "block_start")),
        ("call(", ("fast", "mid_line")),  # after `(`: the arguments, typing
        ("def area(radius:", ("fast", "mid_line")),  # a `:` inside brackets is an annotation
        ("    # the mean of the values\n    mean = ", ("quality", "after_comment")),
        ("  // sort by name\n  const sorted = items.", ("quality", "after_comment")),
        ("total = values.", ("fast", "mid_line")),
        ("    result = compute(values, ", ("fast", "mid_line")),
        ("    return sel", ("fast", "mid_line")),
        ("x = 1  # note\ny = x", ("fast", "mid_line")),  # a trailing comment is not a comment line
    ],
)
def test_the_trigger_context_routes_lines_and_blocks_to_quality_and_typing_to_fast(prefix, expected):
    assert route(prefix) == expected


def timings(prompt_evaluated: int, prompt_ms: float, generated: int, generation_ms: float) -> api.Timings:
    return api.Timings(
        prompt_tokens=prompt_evaluated, prompt_tokens_evaluated=prompt_evaluated, prompt_tokens_reused=0,
        prompt_ms=prompt_ms, generation_ms=generation_ms, tokens_generated=generated, queue_ms=0, total_ms=0,
    )  # fmt: skip


def test_the_latency_estimate_is_unknown_until_measured_then_follows_the_measured_rates():
    latency = LatencyModel()
    assert latency.estimate_ms(100) is None
    latency.observe_completion(timings(64, 640.0, 10, 500.0))  # 10 ms per prompt token, 50 per generated
    assert latency.estimate_ms(100) == pytest.approx(100 * 10 + 50 * (1 + 10))
    latency.observe_completion(timings(2, 400.0, 10, 500.0))  # 2 tokens: a decode's fixed cost, not a rate
    assert latency.prompt_ms_per_token == pytest.approx(10.0)


def test_a_requests_limits_on_generating_cap_the_latency_estimate_and_never_raise_it():
    latency = LatencyModel()
    latency.observe_completion(timings(64, 640.0, 10, 500.0))  # 10 ms per prompt token, 50 per generated
    prompt_ms = 100 * 10
    assert latency.estimate_ms(100, GenerationConfig(max_tokens=4)) == pytest.approx(prompt_ms + 50 * (1 + 4))
    limited = GenerationConfig(max_tokens=32, max_generation_ms=100)  # 2 tokens fit, TOKENS_AFTER_LIMIT more
    assert latency.estimate_ms(100, limited) == pytest.approx(prompt_ms + 50 * (1 + 2 + TOKENS_AFTER_LIMIT))
    unlimited = GenerationConfig(max_tokens=32, max_generation_ms=0)  # allows more than was measured
    assert latency.estimate_ms(100, unlimited) == latency.estimate_ms(100) == prompt_ms + 50 * (1 + 10)


class Engine(FakeEngine):
    """A stand-in that records how many engines run at once, and can hold a generation until released."""

    running = 0
    most_at_once = 0
    guard = threading.Lock()

    def __init__(self, answer: str, identity: str, kv_bytes_per_token: int = 1):
        super().__init__(answer)
        self.identity, self.kv_bytes_per_token = identity, kv_bytes_per_token
        self.hold = threading.Event()
        self.hold.set()

    def generate(self, prompt, generation=None, should_stop=None, cancel=None, required_start=""):
        while not self.hold.wait(0.01):
            if cancel is not None and cancel():
                raise Cancelled("cancelled while held")
        return super().generate(prompt)

    def prefill(self, prompt, cancel=None, batch_tokens=None, interruptible=False, stop_at=None):
        with Engine.guard:  # warmups, warm shares, completions
            Engine.running += 1
            Engine.most_at_once = max(Engine.most_at_once, Engine.running)
        try:
            time.sleep(0.002)
            return super().prefill(prompt, stop_at=stop_at)
        finally:
            with Engine.guard:
                Engine.running -= 1


def tiered(tmp_path, tier="auto", max_latency_ms=0.0, fast_bytes=12, quality_bytes=28) -> TieredService:
    engines = {
        "fast": (Engine("fast_answer()", "fake-fast", fast_bytes), "small"),
        "quality": (Engine("quality_answer()", "fake-quality", quality_bytes), "large"),
    }
    server = ServerConfig(
        kv_snapshot_dir=str(tmp_path / "kv"), kv_snapshot_budget_mb=40, kv_snapshot_disk_mb=80
    )
    config = TierConfig(tier=tier, quality_model="large", quality_max_latency_ms=max_latency_ms)
    return TieredService(engines, Settings(prompt=SERVING_PROMPT), config, server=server)


def request(prefix: str, uri: str = "file:///app/main.py", **fields) -> api.CompleteRequest:
    return api.CompleteRequest(uri=uri, prefix=prefix, suffix="\n", **fields)


def answer(service, prefix: str, **fields) -> api.CompleteResponse:
    return service.finish(service.submit(request(prefix, **fields)))


def test_auto_answers_a_new_line_with_quality_and_typing_with_fast(tmp_path):
    service = tiered(tmp_path)
    try:
        new_line = answer(service, "def area(radius):\n    ")
        typing = answer(service, "def area(radius):\n    return radius.")
    finally:
        service.close()
    assert (new_line.tier, new_line.model, new_line.completion) == ("quality", "large", "quality_answer()")
    assert (typing.tier, typing.model, typing.completion) == ("fast", "small", "fast_answer()")
    assert (new_line.tier_reason, typing.tier_reason) == ("new_line", "mid_line")


def test_a_request_may_name_its_tier_and_a_single_tier_server_refuses_quality(tmp_path):
    service = tiered(tmp_path, tier="fast")
    try:
        assert answer(service, "x = values.").tier == "fast"  # the server's tier setting
        assert answer(service, "x = values.", tier="quality").tier == "quality"
    finally:
        service.close()
    single = CompletionService(FakeEngine(), "small", Settings())
    try:
        assert answer(single, "x = 1\n", tier="auto").tier == "fast"
        with pytest.raises(ModelError, match="no quality tier"):
            single.submit(request("x = 1\n", tier="quality"))
    finally:
        single.close()


def wait_for_warmups(service, tier: str, count: int) -> None:
    scheduler = service.tiers[tier].scheduler if isinstance(service, TieredService) else service.scheduler
    deadline = time.monotonic() + 5
    while scheduler.stats.warmups < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_warmup_warms_the_tier_its_request_asks_for_under_any_server_tier(tmp_path):
    service = tiered(tmp_path, tier="fast")  # Dash asks `auto` per language under a server set to fast
    new_line = api.WarmRequest(uri="file:///app/a.py", prefix="total = 0\n", suffix="", tier="auto")
    mid_line = api.WarmRequest(uri="file:///app/b.py", prefix="total = values.", suffix="", tier="auto")
    try:
        service.warm(new_line)  # a new line: its completion will be routed to quality
        wait_for_warmups(service, "quality", 1)
        service.warm(mid_line)
        wait_for_warmups(service, "fast", 1)
        service.warm(api.WarmRequest(uri="file:///app/c.py", prefix="c = 3\n", suffix=""))  # the server's
        wait_for_warmups(service, "fast", 2)
    finally:
        service.close()
    quality = service.tiers["quality"].engine
    assert "total = 0" in quality.detokenize(quality.cached_tokens)
    assert service.tiers["quality"].scheduler.stats.warmups == 1
    assert service.tiers["fast"].scheduler.stats.warmups == 2


def test_an_auto_warmup_leaves_the_quality_tier_alone_when_its_generation_alone_is_over_budget(tmp_path):
    service = tiered(tmp_path, tier="fast", max_latency_ms=0.001)  # any measured completion is over this
    try:
        service.calibrate()
        service.warm(api.WarmRequest(uri="file:///app/a.py", prefix="total = 0\n", suffix="", tier="auto"))
        wait_for_warmups(service, "fast", 1)
    finally:
        service.close()
    assert service.tiers["quality"].scheduler.stats.warmups == 0
    assert service.tiers["fast"].scheduler.stats.warmups == 1  # fast will answer that line: it is warmed


def test_a_warmup_for_a_tier_the_server_lacks_is_refused(tmp_path):
    single = CompletionService(FakeEngine(), "small", Settings())
    try:
        single.warm(api.WarmRequest(uri="file:///app/a.py", prefix="a = 1\n", suffix="", tier="auto"))
        wait_for_warmups(single, "fast", 1)
        with pytest.raises(ModelError, match="no quality tier"):
            single.warm(api.WarmRequest(uri="file:///app/a.py", prefix="a = 1\n", suffix="", tier="quality"))
    finally:
        single.close()
    assert single.scheduler.stats.warmups == 1
    config = ServerConfig(port=free_port())
    body = {"uri": "file:///app/a.py", "prefix": "a = 1\n", "suffix": "", "tier": "quality"}
    served = CompletionService(FakeEngine(), "small", Settings())
    try:
        with (
            BackgroundServer(create_app(served, config), config.port) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            refused = client.post("/v1/warm", json=body)
            still_serving = client.post("/v1/warm", json={**body, "tier": "auto"})
    finally:
        served.close()
    assert refused.status_code == 400 and "no quality tier" in refused.json()["error"]["message"]
    assert still_serving.status_code == 202
    metrics = served.metrics.exposition().decode()
    assert 'nanocomplete_tier_asked_total{endpoint="warm",tier="auto"} 1.0' in metrics
    assert 'nanocomplete_tier_asked_total{endpoint="warm",tier="quality"} 1.0' in metrics


def test_auto_sends_a_line_to_fast_when_the_quality_tiers_measured_latency_is_over_budget(tmp_path):
    service = tiered(tmp_path, max_latency_ms=1.0)
    try:
        first = answer(service, "a = 1\n", uri="file:///app/a.py")  # nothing measured yet: quality
        # measured: the stand-in generates in ~0.1 ms; say a prompt token costs 0.1 ms (a new file: ~3 ms)
        service.latency["quality"].prompt_ms_per_token = 0.1
        second = answer(service, "b = 2\n", uri="file:///app/b.py")
        quality = service.tiers["quality"]
        deadline = time.monotonic() + 5
        while quality.scheduler.stats.warmups < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # the quality tier warms what it could not afford, behind the completion
    finally:
        service.close()
    assert (first.tier, second.tier) == ("quality", "fast")
    assert second.tier_reason == "over_latency"
    assert service.latency["quality"].estimate_ms(0) < 1.0  # measured: the stand-in generates in ~0.1 ms
    assert "b = 2" in quality.engine.detokenize(quality.engine.cached_tokens)  # warmed for the next time


def test_auto_sends_a_line_to_quality_when_the_requests_own_limits_bring_it_within_budget(tmp_path):
    service = tiered(tmp_path, max_latency_ms=60.0)
    quality = service.latency["quality"]

    def measured_as_slow():  # ~0 ms a prompt token, 10 ms a generated token, 20 generated: ~210 ms
        quality.prompt_ms_per_token = 1e-4
        quality.generation_ms_per_token, quality.generated_tokens = 10.0, 20

    try:
        measured_as_slow()
        servers = answer(service, "a = 1\n", uri="file:///app/a.py")
        measured_as_slow()
        few_tokens = answer(service, "b = 2\n", uri="file:///app/b.py", max_tokens=3)  # ~40 ms
        measured_as_slow()
        short_limit = answer(service, "c = 3\n", uri="file:///app/c.py", max_generation_ms=20)  # ~50 ms
    finally:
        service.close()
    assert (servers.tier, servers.tier_reason) == ("fast", "over_latency")
    assert (few_tokens.tier, few_tokens.tier_reason) == ("quality", "new_line")
    assert (short_limit.tier, short_limit.tier_reason) == ("quality", "new_line")


def test_auto_warms_the_quality_tier_for_a_request_whose_own_limits_make_its_generation_affordable(tmp_path):
    service = tiered(tmp_path, max_latency_ms=60.0)
    quality = service.latency["quality"]
    # a prompt token costs 10 ms (a new file's prompt: over budget), a generated one 10 ms, 20 generated
    quality.prompt_ms_per_token, quality.generation_ms_per_token, quality.generated_tokens = 10.0, 10.0, 20
    try:
        servers = answer(service, "a = 1\n", uri="file:///app/a.py")  # generation alone ~210 ms: no warmup
        time.sleep(0.1)
        warmups_before = service.tiers["quality"].scheduler.stats.warmups
        few_tokens = answer(service, "b = 2\n", uri="file:///app/b.py", max_tokens=3)  # ~40 ms + the prompt
        deadline = time.monotonic() + 5
        while (
            service.tiers["quality"].scheduler.stats.warmups <= warmups_before and time.monotonic() < deadline
        ):
            time.sleep(0.01)
    finally:
        service.close()
    assert (servers.tier, few_tokens.tier) == ("fast", "fast")
    assert few_tokens.tier_reason == "over_latency"
    assert warmups_before == 0 and service.tiers["quality"].scheduler.stats.warmups == 1


def test_auto_does_not_warm_the_quality_tier_when_its_generation_alone_is_over_budget(tmp_path):
    service = tiered(tmp_path, max_latency_ms=0.001)  # any measured completion is over this
    try:
        answer(service, "a = 1\n", uri="file:///app/a.py")  # nothing measured yet: quality
        second = answer(service, "b = 2\n", uri="file:///app/b.py")
        time.sleep(0.1)
    finally:
        service.close()
    assert second.tier == "fast" and service.tiers["quality"].scheduler.stats.warmups == 0


def test_typing_through_a_quality_answer_is_answered_by_that_tier_without_a_model(tmp_path):
    service = tiered(tmp_path)
    try:
        shown = answer(service, "def area(radius):\n    ")
        typed = answer(
            service, "def area(radius):\n    quality_"
        )  # mid-line: fast, were it not typed through
    finally:
        service.close()
    assert shown.tier == "quality"
    assert (typed.tier, typed.cache, typed.completion) == ("quality", "result_cache", "answer()")
    assert typed.tier_reason == "typed_through"


def test_a_newer_request_on_the_fast_tier_cancels_the_documents_older_one_on_quality(tmp_path):
    service = tiered(tmp_path)
    quality_engine = service.tiers["quality"].engine
    quality_engine.hold.clear()
    try:
        older = service.submit(request("def area(radius):\n    "))
        time.sleep(0.1)  # it runs (held)
        newer = service.finish(service.submit(request("def area(radius):\n    return radius.")))
        with pytest.raises(Cancelled):
            service.finish(older)
    finally:
        quality_engine.hold.set()
        service.close()
    assert newer.tier == "fast"


def test_calibration_measures_each_tier_before_the_first_request(tmp_path):
    service = tiered(tmp_path, max_latency_ms=0.001)
    try:
        service.calibrate()
        first = answer(service, "a = 1\n")  # a new line, but quality is known to be over budget already
        metrics = service.metrics.exposition().decode()
    finally:
        service.close()
    assert all(latency.estimate_ms(0) is not None for latency in service.latency.values())
    assert all(not tier.engine.cached_tokens or tier is service.fast for tier in service.tiers.values())
    assert (first.tier, first.tier_reason) == ("fast", "over_latency")
    assert 'nanocomplete_tier_completions_total{reason="over_latency",tier="fast"} 1.0' in metrics
    assert 'nanocomplete_tier_ms_per_token{phase="generation",tier="quality"}' in metrics


def test_the_tiers_never_run_on_the_cpu_at_once(tmp_path):
    service = tiered(tmp_path)
    Engine.most_at_once = 0
    try:
        pendings = []
        for i in range(12):  # other documents: nothing cancels anything
            prefix = f"v_{i} = 1\n" if i % 2 else f"v_{i} = values."
            pendings.append(service.submit(request(prefix, uri=f"file:///app/m{i}.py")))
            service.warm(api.WarmRequest(uri=f"file:///app/w{i}.py", prefix=f"w_{i} = ", suffix=""))
        tiers = [service.finish(p).tier for p in pendings]
    finally:
        service.close()
    assert sorted(set(tiers)) == ["fast", "quality"]
    assert Engine.most_at_once == 1


def test_the_tiers_split_the_snapshot_budgets_by_kv_bytes_per_token(tmp_path):
    service = tiered(tmp_path, fast_bytes=12, quality_bytes=28)
    try:
        fast, quality = (service.tiers[t].scheduler.snapshots for t in ("fast", "quality"))
        assert (fast.budget_bytes, quality.budget_bytes) == (12 * 2**20, 28 * 2**20)
        assert (fast.disk.budget_bytes, quality.disk.budget_bytes) == (24 * 2**20, 56 * 2**20)
        assert fast.disk.directory != quality.disk.directory
    finally:
        service.close()


def test_over_http_health_lists_the_tiers_and_naming_a_model_picks_its_tier(tmp_path):
    service = tiered(tmp_path, tier="fast")
    config = ServerConfig(port=free_port())
    body = {"uri": "file:///app/main.py", "prefix": "x = values.", "suffix": ""}
    with (
        BackgroundServer(create_app(service, config), config.port) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        health = client.get("/health").json()
        by_name = client.post("/v1/complete", json={**body, "model": "large"}).json()
        by_tier = client.post("/v1/complete", json={**body, "tier": "auto"}).json()
        both = client.post("/v1/complete", json={**body, "model": "large", "tier": "fast"})
        openai = {"model": "large", "prompt": "x = values.", "suffix": "", "max_tokens": 8}
        openai_answer = client.post("/v1/completions", json=openai).json()
        unknown = client.post("/v1/complete", json={**body, "model": "huge"})
        bad_tier = client.post("/v1/complete", json={**body, "tier": "fastest"})
        models = client.get("/v1/models").json()
    assert health["tiers"] == {"fast": "small", "quality": "large"}
    assert (by_name["tier"], by_name["model"]) == ("quality", "large")
    assert by_tier["tier"] == "fast"  # mid-line
    assert both.status_code == 400 and "send one of them" in both.json()["error"]["message"]
    assert openai_answer["model"] == "large"  # the model that answered

    assert unknown.status_code == 400 and "'small' and 'large'" in unknown.json()["error"]["message"]
    assert bad_tier.status_code == 422
    assert [m["id"] for m in models["data"]] == ["small", "large"]


def test_the_real_engines_kv_bytes_per_token_is_what_a_snapshot_holds_per_token(engine):
    engine.reset()
    engine.prefill(engine.tokenize("def area(radius):\n    return 3.14159 * radius * radius\n" * 2))
    snapshot = engine.snapshot()
    assert (
        engine.kv_bytes_per_token == 12 * 1024
    )  # Qwen2.5-Coder-0.5B: 24 layers x 2 KV heads x 64 x K,V x f16
    per_token = snapshot.size_bytes / len(snapshot.tokens)
    assert engine.kv_bytes_per_token <= per_token <= engine.kv_bytes_per_token * 1.1
