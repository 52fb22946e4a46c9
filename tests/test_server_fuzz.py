"""Fuzzing the real server on loopback with generated payloads (hypothesis, 1,200 of them): no request may
get a 5xx, every refusal is a JSON error with a message, and the server keeps serving. The model is faked
here (a fast stand-in with the engine's interface): this tests the HTTP, validation and scheduling logic
around it, which a real model would only slow down."""

from __future__ import annotations

import json

import pytest
from fakes import FakeEngine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_harness import RunningServer

ENDPOINTS = ("/v1/complete", "/v1/warm", "/v1/events", "/infill", "/v1/completions")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
positions = st.fixed_dictionaries({"line": st.integers(-2, 12), "character": st.integers(-2, 60)})
documents = st.fixed_dictionaries(
    {"uri": st.text(max_size=30)},
    optional={
        "text": st.text(max_size=300),
        "cursor": positions | json_values,
        "prefix": st.text(max_size=200),
        "suffix": st.text(max_size=200),
        "language": st.text(max_size=8),
        "workspace_root": st.sampled_from(["/nonexistent", "/tmp", ""]) | st.text(max_size=10),
        "recent": st.lists(
            st.fixed_dictionaries({"path": st.text(max_size=10), "text": st.text(max_size=50)}), max_size=3
        ),
        "max_tokens": st.integers(-3, 300),
        "model": st.sampled_from(["test-model", "default", "other"]),
        "trigger_kind": st.sampled_from(["automatic", "invoked", "sideways"]),
    },
)
events = st.fixed_dictionaries(
    {"events": st.lists(
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["shown", "accepted", "rejected", "retained", "bogus"])},
            optional={"accepted_chars": st.integers(-5, 100), "after_s": st.floats(-1, 200), "text": st.text(max_size=20)},
        ),
        max_size=4,
    )}
)  # fmt: skip
infill = st.fixed_dictionaries(
    {},
    optional={
        "input_prefix": st.text(max_size=100),
        "input_suffix": st.text(max_size=100),
        "prompt": st.text(max_size=30),
        "n_predict": st.integers(-5, 2000),
        "input_extra": st.lists(
            st.fixed_dictionaries({"filename": st.text(max_size=8), "text": st.text(max_size=30)}), max_size=2
        ),
    },
)
openai = st.fixed_dictionaries(
    {"prompt": st.text(max_size=100) | st.lists(st.text(max_size=20), max_size=3)},
    optional={
        "suffix": st.text(max_size=100),
        "max_tokens": st.integers(-1, 2000),
        "stream": st.booleans(),
        "model": st.text(max_size=8),
    },
)
bodies = st.one_of(
    documents.map(lambda d: json.dumps(d).encode()),
    events.map(lambda d: json.dumps(d).encode()),
    infill.map(lambda d: json.dumps(d).encode()),
    openai.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory):
    with (
        RunningServer(FakeEngine(), tmp_path_factory.mktemp("fuzz")) as running,
        running.client(timeout=30) as client,
    ):
        yield running, client


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_generated_payloads_never_get_a_server_error(fake_server, endpoint, body):
    _, client = fake_server
    response = client.post(endpoint, content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 202, 400, 413, 422), (response.status_code, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"]


def test_the_server_still_serves_after_the_fuzzing(fake_server):
    _, client = fake_server
    assert client.get("/health").status_code == 200
    body = {"uri": "f.py", "prefix": "x = ", "suffix": "\n"}
    assert client.post("/v1/complete", json=body).json()["completion"] == "value + 1"
