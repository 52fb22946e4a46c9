"""Load on the real server with the real 0.5B: 200 concurrent completion requests over 20 documents, some
abandoned by their clients, then a second wave. No 5xx, every request answered or cancelled, the server
healthy afterwards, and its memory bounded (the second wave does not grow it)."""

import asyncio
import random
from pathlib import Path

import httpx
import pytest
from server_harness import RunningServer

DOCUMENTS = 20
REQUESTS = 200


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def body(i: int) -> dict:
    doc = i % DOCUMENTS
    prefix = f"def helper_{doc}(values):\n    total = 0\n    for value in values:\n        total += value * {i % 7}\n    return "
    return {"uri": f"file:///load/doc{doc}.py", "prefix": prefix, "suffix": "\n", "max_tokens": 8}


async def wave(url: str, seed: int) -> list[int | str]:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:

        async def one(i: int):
            abandon = rng.random() < 0.2  # the editor moved on: the client goes away
            try:
                response = await client.post("/v1/complete", json=body(i), timeout=0.2 if abandon else 300)
                return response.status_code
            except httpx.TimeoutException:
                return "abandoned"

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's memory from /proc")
def test_two_hundred_concurrent_requests_get_no_server_error_and_memory_stays_bounded(engine, tmp_path):
    engine.reset()
    with RunningServer(engine, tmp_path) as server:
        first = asyncio.run(wave(server.url, 0))
        after_first = rss_mb()
        second = asyncio.run(wave(server.url, 1))
        after_second = rss_mb()
        with server.client() as client:
            assert client.get("/health").status_code == 200
            assert client.post("/v1/complete", json=body(0)).status_code == 200
        stats = server.service.scheduler.stats
    statuses = first + second
    assert all(s in (200, "abandoned") for s in statuses), sorted({str(s) for s in statuses})
    assert statuses.count(200) >= REQUESTS  # most requests are answered (many as cancelled)
    assert stats.cancelled >= REQUESTS  # superseded requests were cancelled, not all run
    assert after_second - after_first < 100  # MB: the second wave does not leak
