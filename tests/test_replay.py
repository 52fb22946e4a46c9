"""The IDE-replay benchmark's mechanics (a fake model: the typing, acceptance and summary logic is what is
tested here; the real numbers come from `nanocomplete bench replay`)."""

from fakes import FakeEngine

from nanocomplete import replay
from nanocomplete.completion import Settings

FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": "\n".join(
        ["import os", ""]
        + [f"def f{i}(value):\n    total = value + 1\n    return total\n" for i in range(12)]
    ),
    "pkg/b.py": "\n".join(
        ["import os", ""]
        + [f"def g{i}(value):\n    total = value + 1\n    return total\n" for i in range(10)]
    ),
    "pkg/c.py": "\n".join(
        ["import os", ""] + [f"def h{i}(value):\n    total = value + 1\n    return total\n" for i in range(8)]
    ),
}


def test_a_session_sends_completions_and_counts_accepted_text(monkeypatch):
    monkeypatch.setattr(replay, "THINK_S", 0.0)
    session = replay.run(FakeEngine("value + 1"), "fake", FILES, Settings(), reuse_kv=True)
    summary = replay.summarise(session)
    assert summary["requests"] > 10
    # the fake always suggests "value + 1", which is what follows "total = " on every second line
    assert summary["accepted"] >= 1 and summary["accepted_chars_per_100_typed"] > 0
    assert summary["by_event"]["first_after_returning"]["n"] == 2
    assert summary["by_event"]["first_in_new_file"]["n"] == 2  # A and B are written in; C is only looked at


def test_the_naive_configuration_reuses_nothing(monkeypatch):
    monkeypatch.setattr(replay, "THINK_S", 0.0)
    naive = replay.summarise(replay.run(FakeEngine(), "fake", FILES, Settings(), reuse_kv=False))
    ours = replay.summarise(replay.run(FakeEngine(), "fake", FILES, Settings(), reuse_kv=True))
    assert naive["cache_hit_ratio"] == 0.0
    assert ours["cache_hit_ratio"] > 0.5


def test_gate_tradeoff_counts_shown_and_accepted_above_each_threshold():
    def request(logprob, accepted):
        return replay.Request("a", "mid_line", None, 1, 1, 1, 0, 1, 1, "miss", True, accepted, 3, logprob)

    session = replay.Session(
        [request(-0.1, True), request(-0.4, True), request(-1.2, False), request(-2.5, False)]
    )
    rows = {row["min_mean_logprob"]: row for row in replay.gate_tradeoff(session, (-99.0, -1.0, -0.3))}
    assert (rows[-99.0]["shown"], rows[-99.0]["acceptance_rate"]) == (4, 0.5)
    assert (rows[-1.0]["shown"], rows[-1.0]["acceptance_rate"]) == (2, 1.0)
    assert (rows[-0.3]["shown"], rows[-0.3]["accepted"]) == (1, 1)
