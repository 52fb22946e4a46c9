"""The engine's queues: whatever clients send, they hold a bounded number of jobs."""

from fakes import FakeEngine

from nanocomplete.config import GenerationConfig
from nanocomplete.scheduler import MAX_QUEUED_COMPLETIONS, MAX_QUEUED_WARMUPS, Cancelled, Scheduler


def test_the_queues_hold_a_bounded_number_of_jobs_the_oldest_cancelled():
    scheduler = Scheduler(FakeEngine())
    extra = 5
    try:
        with scheduler.compute.lock:  # the CPU is busy: every job waits (the worker may hold one of them)
            completions = [
                scheduler.complete(f"file:///{i}.py", [1, 2, 3], GenerationConfig(max_tokens=1))
                for i in range(MAX_QUEUED_COMPLETIONS + extra)
            ]
            warmups = [
                scheduler.warm(f"file:///w{i}.py", [1, 2, 3]) for i in range(MAX_QUEUED_WARMUPS + extra)
            ]
            newest = completions[-MAX_QUEUED_COMPLETIONS:]
            assert not any(job.cancelled for job in newest)
            assert sum(job.cancelled for job in completions) >= extra - 1  # one may be the worker's already
            dropped = [job for job in warmups if job.future.done()]
            assert len(dropped) >= extra - 1 and all(job in warmups[:extra] for job in dropped)
            assert isinstance(dropped[0].future.exception(), Cancelled)
            # a client resending for one document while the engine is busy: the superseded ones answer at once
            resent = [
                scheduler.complete("file:///same.py", [1, 2, 3], GenerationConfig(max_tokens=1))
                for _ in range(50)
            ]
            assert all(isinstance(job.future.exception(timeout=1), Cancelled) for job in resent[:-1])
            newest = [*newest[1:], resent[-1]]
        for job in newest:  # the CPU free again, the kept ones answer
            assert job.future.result(timeout=10).text is not None
    finally:
        scheduler.close()
