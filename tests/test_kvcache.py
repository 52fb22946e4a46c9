"""KV snapshots on disk: what one server writes, the next one (same model) reads; damaged files, other
models' files and files past the byte budget are never restored. The real engine's snapshots round-trip
through disk into its KV cache. In memory, a document keeps a few regions: a jump inside a file and back
restores the region it left."""

import logging

from nanocomplete.engine import KvSnapshot
from nanocomplete.kvcache import DiskSnapshots, SnapshotCache


def snapshot(first: int, tokens: int = 50, state_bytes: int = 1000) -> KvSnapshot:
    return KvSnapshot(tuple(range(first, first + tokens)), bytes([first % 256]) * state_bytes)


def written(store: DiskSnapshots) -> DiskSnapshots:
    store.close()
    return store


def test_a_new_store_on_the_same_folder_finds_and_restores_what_the_last_one_saved(tmp_path):
    written_store = DiskSnapshots(tmp_path, "model-a", 10**6)
    written_store.save("file:///a.py", snapshot(1))
    written_store.save("file:///b.py", snapshot(500))
    written(written_store)
    reopened = DiskSnapshots(tmp_path, "model-a", 10**6)
    uri, length = reopened.best([*range(1, 41), 9999])
    assert (uri, length) == ("file:///a.py", 40)
    assert reopened.load("file:///a.py") == snapshot(1)
    assert len(reopened) == 2


def test_the_newest_snapshot_of_a_document_replaces_its_older_one(tmp_path):
    store = DiskSnapshots(tmp_path, "model-a", 10**6)
    store.save("file:///a.py", snapshot(1))
    store.save("file:///a.py", snapshot(7))
    written(store)
    assert DiskSnapshots(tmp_path, "model-a", 10**6).load("file:///a.py") == snapshot(7)
    assert len(list(store.directory.glob("*.kv"))) == 1


def test_another_model_never_sees_the_snapshots(tmp_path):
    store = DiskSnapshots(tmp_path, "model-a", 10**6)
    store.save("file:///a.py", snapshot(1))
    written(store)
    other = DiskSnapshots(tmp_path, "model-b", 10**6)
    assert other.best(range(1, 40)) == (None, 0) and len(other) == 0


def test_a_damaged_file_is_skipped_with_a_warning_and_removed(tmp_path, caplog):
    store = DiskSnapshots(tmp_path, "model-a", 10**6)
    store.save("file:///a.py", snapshot(1))
    store.save("file:///b.py", snapshot(500))
    written(store)
    damaged, cut = store.path("file:///a.py"), store.path("file:///b.py")
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[:20])
    with caplog.at_level(logging.WARNING, logger="nanocomplete.kvcache"):
        reopened = DiskSnapshots(tmp_path, "model-a", 10**6)  # the cut file fails at once
        assert len(reopened) == 1
        assert reopened.best(snapshot(1).tokens)[0] == "file:///a.py"
        assert reopened.load("file:///a.py") is None  # the flipped byte fails the checksum
    assert len([r for r in caplog.records if "skipping the KV snapshot" in r.message]) == 2
    assert not list(store.directory.glob("*.kv"))


def test_the_disk_holds_at_most_its_budget_dropping_the_oldest_first(tmp_path):
    one_file = len(b"NCKV1\n") + 200 + 4 * 50 + 1000  # about; the budget fits two, not three
    store = DiskSnapshots(tmp_path, "model-a", 2 * one_file + 100)
    for first in (1, 100, 200):
        store.save(f"file:///{first}.py", snapshot(first))
        store.flush()
    written(store)
    assert store.size_bytes <= store.budget_bytes
    reopened = DiskSnapshots(tmp_path, "model-a", 10**6)
    assert reopened.best(snapshot(1).tokens) == (None, 0)
    assert reopened.best(snapshot(200).tokens)[0] == "file:///200.py"


def test_the_memory_cache_reads_a_snapshot_from_disk_only_when_it_shares_more(tmp_path):
    store = DiskSnapshots(tmp_path, "model-a", 10**6)
    store.save("file:///a.py", snapshot(1, tokens=80))
    written(store)
    cache = SnapshotCache(10**6, DiskSnapshots(tmp_path, "model-a", 10**6))
    cache.put("file:///b.py", snapshot(1, tokens=30))
    key, found, length = cache.best(list(range(1, 100)))
    assert (key, length) == ("file:///a.py", 80) and found == snapshot(1, tokens=80)
    assert set(cache.keys()) == {"file:///a.py", "file:///b.py"}
    cache.close()


def test_the_real_engines_state_survives_the_disk(engine, tmp_path):
    engine.reset()
    prompt = engine.tokenize(
        "def area(radius):\n    return 3.14159 * radius ** 2\n\n\ndef perimeter(radius):\n"
    )
    engine.prefill(prompt)
    expected = engine.generate(prompt).text
    store = DiskSnapshots(tmp_path, engine.identity, 10**9)
    store.save("file:///area.py", engine.snapshot())
    written(store)
    engine.reset()
    loaded = DiskSnapshots(tmp_path, engine.identity, 10**9).load("file:///area.py")
    engine.restore(loaded)
    assert engine.reusable_tokens(prompt) == len(prompt)
    again = engine.generate(prompt)
    assert again.timings.prompt_tokens_evaluated <= 1 and again.text == expected


def test_a_document_left_for_one_that_shares_only_shiftable_runs_with_it_keeps_its_snapshot():
    from fakes import FakeEngine

    from nanocomplete.config import GenerationConfig
    from nanocomplete.scheduler import Scheduler

    engine = FakeEngine()
    engine.kv_shift_min_tokens = 8
    scheduler = Scheduler(engine)
    first = list(range(100, 300))
    other = [100, 101, *range(110, 300), 7]  # 190 of the first's tokens, after a deletion of 8
    try:
        scheduler.complete("a", first, GenerationConfig(max_tokens=4)).future.result(timeout=10)
        assert engine.reusable_tokens(other) > 190  # a shift would reuse most of it...
        scheduler.complete("b", other, GenerationConfig(max_tokens=4)).future.result(timeout=10)
    finally:
        scheduler.close()
    kept = scheduler.snapshots.keys()
    assert "a" in kept  # ...and drop the rest of "a": it was kept first


def scheduler_on_fake(kv_shift_min_tokens: int = 0):
    from fakes import FakeEngine

    from nanocomplete.scheduler import Scheduler

    engine = FakeEngine()
    engine.kv_shift_min_tokens = kv_shift_min_tokens
    return Scheduler(engine)


def run(scheduler, key, prompt):
    from nanocomplete.config import GenerationConfig

    job = scheduler.complete(key, prompt, GenerationConfig(max_tokens=4))
    return job, job.future.result(timeout=10)


HEAD = list(range(1, 40))  # the repo name, the other files, the path: the same in every region


def region(first: int, tokens: int = 600) -> list[int]:
    return HEAD + list(range(first, first + tokens))


def test_a_jump_inside_a_document_and_back_restores_the_region_it_left():
    scheduler = scheduler_on_fake()
    try:
        run(scheduler, "a", region(1000))
        run(scheduler, "a", region(5000))  # a jump: the window at the top of the file, say
        back, result = run(scheduler, "a", [*region(1000), 7])
    finally:
        scheduler.close()
    assert back.cache_outcome == "snapshot" and result.timings.prompt_tokens_evaluated == 1
    assert sorted(scheduler.snapshots.keys()) == ["a", "a#region-0"]  # both regions, once each


def test_a_document_keeps_at_most_three_regions_the_least_recently_used_dropped():
    scheduler = scheduler_on_fake()
    try:
        for first in (1000, 2000, 3000, 4000, 5000):
            run(scheduler, "a", region(first))
        _, oldest = run(scheduler, "a", [*region(1000), 7])
        _, kept = run(scheduler, "a", [*region(4000), 7])
    finally:
        scheduler.close()
    assert len(scheduler.snapshots.keys()) == 3
    assert oldest.timings.prompt_tokens_evaluated > 600 and kept.timings.prompt_tokens_evaluated == 1


def test_typing_and_window_moves_keep_no_region_snapshots():
    scheduler = scheduler_on_fake(kv_shift_min_tokens=32)
    text = list(range(1000, 1600))
    try:
        run(scheduler, "a", HEAD + text)
        run(scheduler, "a", HEAD + text + [7, 8, 9])  # typing
        run(scheduler, "a", HEAD + text[150:] + [7, 8, 9, 10])  # the window's start moved down 150 tokens
    finally:
        scheduler.close()
    assert scheduler.stats.snapshot_saves == 0 and scheduler.snapshots.keys() == []


def test_a_newer_snapshot_of_the_same_region_replaces_the_older_ones():
    cache = SnapshotCache(10**9)
    cache.put("a", KvSnapshot(tuple(region(1000)), b"x"))
    cache.put("a", KvSnapshot(tuple(region(5000)), b"y"))  # another region: the first is kept
    cache.put("a", KvSnapshot(tuple([*region(1000), 7]), b"z"))  # the first region, newer
    assert sorted(cache.keys()) == ["a", "a#region-0"]
    assert cache.best([*region(1000), 7, 8])[1].data == b"z"
    assert cache.best(region(5000))[1].data == b"y"


def test_a_return_to_a_document_whose_context_changed_restores_its_snapshot_and_evaluates_the_new_context():
    scheduler = scheduler_on_fake(kv_shift_min_tokens=32)
    text = list(range(1000, 1600))
    try:
        run(scheduler, "a", HEAD + text)
        run(scheduler, "b", HEAD + list(range(5000, 5600)))  # another file: "a" goes to a snapshot
        new_context = list(range(8000, 8050))  # the context engine picked another snippet for "a"
        back, result = run(scheduler, "a", [*HEAD[:10], *new_context, *text, 7])
    finally:
        scheduler.close()
    assert back.cache_outcome == "snapshot"  # ranked by what a shift serves, not by the common prefix (10)
    assert result.timings.prompt_tokens_evaluated == len(new_context) + 1  # the new snippet, the typed token


def test_a_warm_share_inside_a_long_gap_evaluates_its_tokens_and_keeps_the_run_after_it():
    from nanocomplete.config import GenerationConfig
    from nanocomplete.scheduler import WarmShare

    scheduler = scheduler_on_fake(kv_shift_min_tokens=32)
    text = list(range(1000, 1600))
    try:
        run(scheduler, "a", HEAD + text)
        # a 300-token snippet gained among the other files, then 50 cached tokens, then new text: the share
        # of 100 stops inside the snippet (a share that waited for the whole gap never began: replay v22)
        full = [*HEAD[:10], *range(8000, 8300), *HEAD[10:], *text[:21], *range(9000, 9100)]
        assert scheduler.engine.prefix_within(full, 100) == 110
        share = WarmShare("a", tuple(full), 100)
        job = scheduler.complete("a#bounded", list(range(2000, 2100)), GenerationConfig(max_tokens=4),
                                 document="a", warm_share=share)  # fmt: skip
        result = job.future.result(timeout=10)
        _, snapshot, _ = scheduler.snapshots.best(full)
        assert scheduler.engine.reusable(snapshot.tokens, full) == 10 + 100 + 50  # the run is still there
        second = scheduler.complete("a#bounded", list(range(2000, 2101)), GenerationConfig(max_tokens=4),
                                    document="a", warm_share=WarmShare("a", tuple(full), 300))  # fmt: skip
        again = second.future.result(timeout=10)
    finally:
        scheduler.close()
    assert result.timings.warm_share_tokens == 100
    # the next share goes on from there: the snippet's other 200 tokens, the run (50) free, the new text
    assert again.timings.warm_share_tokens == 300
    _, snapshot, _ = scheduler.snapshots.best(full)
    assert scheduler.engine.reusable(snapshot.tokens, full) == len(full)


def test_a_full_prompt_too_long_for_the_context_window_leaves_the_bounded_answer_standing():
    from fakes import FakeEngine

    from nanocomplete.config import GenerationConfig
    from nanocomplete.errors import PromptError
    from nanocomplete.scheduler import Scheduler, WarmShare

    class SmallWindow(FakeEngine):
        def prefill(self, prompt, cancel=None, batch_tokens=None, interruptible=False, stop_at=None):
            if len(prompt) >= 500:  # as Engine.prefill: the whole prompt must fit the window
                raise PromptError(f"prompt of {len(prompt)} tokens does not fit context_window_tokens=500")
            return super().prefill(prompt, cancel, batch_tokens, interruptible, stop_at)

    scheduler = Scheduler(SmallWindow())
    try:
        share = WarmShare("a", tuple(range(1000, 1600)), 100)
        job = scheduler.complete("a#bounded", list(range(2000, 2100)), GenerationConfig(max_tokens=4),
                                 document="a", warm_share=share)  # fmt: skip
        result = job.future.result(timeout=10)
    finally:
        scheduler.close()
    assert result.text == "value + 1" and result.timings.warm_share_tokens == 0
