"""Golden tests: each client's request sequence, recorded from its source (tests/fixtures/clients/*.json
name the file), replayed against the real server and model. Warm-ups must not generate, two files must
keep two KV snapshots, and every answer must be a 200 in the format that client parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_harness import RunningServer

CLIENTS = sorted((Path(__file__).parent / "fixtures" / "clients").glob("*.json"))


def sse_events(text: str) -> list:
    """The `data:` payloads of a server-sent event stream, JSON-decoded ([DONE] kept as a string)."""
    events = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def content_of(step: dict, response) -> str:
    """The completion text, read the way the client reads it (asserting that client's format)."""
    assert response.status_code == 200, response.text
    if step["path"] == "/v1/completions":
        events = sse_events(response.text) if step.get("stream") else [response.json()]
        if step.get("stream"):
            assert events[-1] == "[DONE]"
            events = events[:-1]
        assert all(e["object"] == "text_completion" and "text" in e["choices"][0] for e in events)
        return "".join(e["choices"][0]["text"] for e in events)
    if step.get("stream"):  # llama.cpp's /completion stream: Tabby requires both fields in every chunk
        events = sse_events(response.text)
        assert all(isinstance(e["content"], str) and isinstance(e["stop"], bool) for e in events)
        assert events[-1]["stop"] is True and not any(e["stop"] for e in events[:-1])
        return "".join(e["content"] for e in events)
    body = response.json()
    assert isinstance(body["content"], str) and body["stop"] is True
    assert {"prompt_n", "prompt_ms", "predicted_n", "predicted_ms"} <= set(body["timings"])
    return body["content"]


def generated_tokens(client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("nanocomplete_tokens_generated_total "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.parametrize("recording", CLIENTS, ids=[path.stem for path in CLIENTS])
def test_a_clients_recorded_requests_warm_without_generating_keep_each_files_kv_and_answer_in_its_format(
    engine, tmp_path, recording
):
    script = json.loads(recording.read_text())
    engine.reset()
    with RunningServer(engine, tmp_path) as server, server.client() as client:
        scheduler = server.service.scheduler
        answers: dict[str, list[str]] = {}
        for step in script["requests"]:
            if step["kind"] == "models":
                listed = client.get(step["path"]).json()
                assert listed["object"] == "list" and listed["data"][0]["id"] == "test-model"
                continue
            generated, completions = generated_tokens(client), scheduler.stats.completions
            body = step["body"] | (
                {"model": "test-model"} if "model" in step["body"] else {}
            )  # as configured
            response = client.post(step["path"], json=body)
            text = content_of(step, response)
            if step["kind"] == "warm":
                assert text == "" and response.json()["tokens_predicted"] == 0
                assert scheduler.stats.completions == completions
                assert generated_tokens(client) == generated
            else:
                answers.setdefault(step["file"], []).append(text)
        # the live document's KV and the others' snapshots (whether the return to the first file reached
        # the model depends on its first answer: typing through it is answered from the result cache)
        held = {*scheduler.snapshots.keys(), scheduler.live_key}
    assert answers["a"][0].strip(), f"{script['client']}: no completion for the first file"
    assert len(held) >= 2, f"{script['client']}: two files should keep their KV, got {held}"


def readme_block(language: str, containing: str) -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = readme.split(f"```{language}\n")[1:]
    return next(block.split("```")[0] for block in blocks if containing in block)


def test_the_readmes_client_configurations_reach_endpoints_this_server_has():
    import re
    import tomllib
    from urllib.parse import urljoin, urlparse

    from fakes import FakeEngine

    from nanocomplete import fim
    from nanocomplete.completion import Settings
    from nanocomplete.server import create_app
    from nanocomplete.service import CompletionService

    service = CompletionService(FakeEngine(), "nanocomplete-0.5b", Settings())
    routes = {(method, route.path) for route in create_app(service).routes for method in route.methods}
    service.close()
    vscode = json.loads(readme_block("json", "llama-vscode.endpoint"))["llama-vscode.endpoint"]
    vim = re.search(r"'endpoint': '([^']+)'", readme_block("vim", "llama_config")).group(1)
    continue_base = re.search(r"apiBase: (\S+)", readme_block("yaml", "provider: llama.cpp")).group(1)
    tabby = tomllib.loads(readme_block("toml", "llama.cpp/completion"))["model"]["completion"]["http"]
    urls = [
        vscode + "/infill",  # llama.vscode appends /infill to its endpoint
        vim,
        urljoin(continue_base, "completion"),  # Continue: new URL("completion", apiBase)
        tabby["api_endpoint"] + "/completion",  # Tabby: format!("{}/completion", api_endpoint)
    ]
    for url in urls:
        assert urlparse(url).netloc == "127.0.0.1:8012"
        assert ("POST", urlparse(url).path) in routes, url
    prompt = tabby["prompt_template"].format(prefix="def f():\n    return ", suffix="\n")
    assert fim.parse_client_template(prompt) == ("def f():\n    return ", "\n")
