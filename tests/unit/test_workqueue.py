"""WorkQueue on a fake clock (looptime): exact loop times, no real waiting.

Each test names the guarantee it checks; times are asserted exactly because the loop's clock
only moves when every task waits (looptime), so a sleep of 10 s ends at exactly +10 s.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest

from rollout_operator.workqueue import RetryableError, WorkQueue

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime(idle_timeout=1)]


class Recorder:
    """A process() that records when each key started and takes `duration` loop seconds."""

    def __init__(self, duration: float = 0.0) -> None:
        self.duration = duration
        self.starts: list[tuple[str, float]] = []
        self.running: dict[str, int] = defaultdict(int)
        self.peak_per_key = 0
        self.peak_total = 0

    async def __call__(self, key: str) -> None:
        self.starts.append((key, asyncio.get_running_loop().time()))
        self.running[key] += 1
        self.peak_per_key = max(self.peak_per_key, self.running[key])
        self.peak_total = max(self.peak_total, sum(self.running.values()))
        try:
            await asyncio.sleep(self.duration)
        finally:
            self.running[key] -= 1

    def times(self, key: str) -> list[float]:
        return [at for k, at in self.starts if k == key]


async def test_one_key_is_never_processed_twice_at_once_while_other_keys_run_in_parallel():
    process = Recorder(duration=10)
    queue: WorkQueue[str] = WorkQueue(process, workers=4)
    queue.start()
    queue.add("a")
    queue.add("b")
    await asyncio.sleep(1)
    for _ in range(5):  # re-added while "a" runs, by free workers' standards ready at once
        queue.add("a")
        await asyncio.sleep(1)
    queue.add("a", delay=3)  # a timer that fires while "a" still runs
    await asyncio.sleep(60)
    await queue.stop()
    assert process.peak_total == 2  # the workers do run keys in parallel...
    assert process.peak_per_key == 1  # ...but never the same key twice at once
    assert process.times("a") == [0, 10]  # one re-run, right after the first ended
    assert process.times("b") == [0]


async def test_adds_of_a_waiting_key_coalesce_into_one_run():
    process = Recorder()
    queue: WorkQueue[str] = WorkQueue(process, workers=4)
    for _ in range(100):
        queue.add("a")
    assert len(queue) == 1
    queue.start()
    for _ in range(10):
        queue.add("b", delay=5)
    await asyncio.sleep(30)
    await queue.stop()
    assert process.starts == [("a", 0), ("b", 5)]


async def test_earlier_schedule_wins_and_a_later_one_neither_postpones_nor_repeats():
    process = Recorder()
    queue: WorkQueue[str] = WorkQueue(process)
    queue.start()
    queue.add("a", delay=5)
    queue.add("a", delay=2)  # earlier: replaces the 5 s timer
    queue.add("a", delay=8)  # later: absorbed
    queue.add("b", delay=30)
    queue.add("b")  # now: the 30 s timer is cancelled, not left to fire again
    await asyncio.sleep(60)
    await queue.stop()
    assert process.times("a") == [2]
    assert process.times("b") == [0]


async def test_a_delayed_add_fires_at_its_time():
    process = Recorder()
    queue: WorkQueue[str] = WorkQueue(process)
    queue.start()
    queue.add("a", delay=7.5)
    queue.add("b", delay=120)
    assert len(queue) == 2  # both wait on timers
    await asyncio.sleep(200)
    await queue.stop()
    assert process.starts == [("a", 7.5), ("b", 120)]


async def test_failures_back_off_exponentially_capped_at_max_backoff():
    starts: list[float] = []

    async def process(key: str) -> None:
        starts.append(asyncio.get_running_loop().time())
        raise RuntimeError("boom")

    queue: WorkQueue[str] = WorkQueue(process, max_backoff=5)
    queue.start()
    queue.add("a")
    await asyncio.sleep(30)
    await queue.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.5, 1, 2, 4, 5, 5, 5, 5])


async def test_a_success_resets_the_backoff():
    starts: list[float] = []
    outcomes = iter(["fail", "fail", "fail", "ok", "fail", "fail"])

    async def process(key: str) -> float | None:
        starts.append(asyncio.get_running_loop().time())
        outcome = next(outcomes, "done")
        if outcome == "fail":
            raise RuntimeError("boom")
        return 1.0 if outcome == "ok" else None  # "ok": look again in 1 s (requeue-after)

    queue: WorkQueue[str] = WorkQueue(process, max_backoff=60)
    queue.start()
    queue.add("a")
    await asyncio.sleep(30)
    await queue.stop()
    # fail, +0.5 fail, +1 fail, +2 ok (asks for +1), +1 fail, +0.5 (not +8) fail, +1
    assert starts == pytest.approx([0, 0.5, 1.5, 3.5, 4.5, 5.0, 6.0])


async def test_a_key_added_while_running_runs_again_after_it_finishes():
    process = Recorder(duration=10)
    queue: WorkQueue[str] = WorkQueue(process, workers=1)
    queue.start()
    queue.add("a")
    await asyncio.sleep(3)
    queue.add("a")  # a change seen mid-reconcile must not be lost
    await asyncio.sleep(60)
    await queue.stop()
    assert process.times("a") == [0, 10]


async def test_requeue_after_returned_by_process_is_honoured():
    starts: list[float] = []

    async def process(key: str) -> float | None:
        starts.append(asyncio.get_running_loop().time())
        return 4.0 if len(starts) == 1 else None

    queue: WorkQueue[str] = WorkQueue(process)
    queue.start()
    queue.add("a")
    await asyncio.sleep(30)
    await queue.stop()
    assert starts == [0, 4]


async def test_longest_running_is_the_age_of_the_oldest_running_process():
    process = Recorder(duration=100)
    queue: WorkQueue[str] = WorkQueue(process, workers=2)
    queue.start()
    assert queue.longest_running() == 0
    queue.add("a")
    await asyncio.sleep(10)
    queue.add("b")
    await asyncio.sleep(20)
    assert queue.longest_running() == pytest.approx(30)  # "a", not the younger "b"
    await asyncio.sleep(75)  # "a" ended at 100; "b" started at 10
    assert queue.longest_running() == pytest.approx(95)
    await asyncio.sleep(10)  # both done
    assert queue.longest_running() == 0
    await queue.stop()


async def test_nothing_runs_after_stop_even_when_a_timer_comes_due():
    stopped = Recorder()
    control = Recorder()
    queue: WorkQueue[str] = WorkQueue(stopped)
    other: WorkQueue[str] = WorkQueue(control)
    queue.start()
    other.start()
    queue.add("a", delay=5)
    other.add("a", delay=5)
    await asyncio.sleep(1)
    await queue.stop()
    queue.add("b")
    await asyncio.sleep(10)
    await other.stop()
    assert control.starts == [("a", 5)]  # barrier: the timer's time has come and gone
    assert stopped.starts == []


async def test_earlier_schedule_wins_also_over_a_re_run_of_a_key_added_while_running():
    process = Recorder(duration=10)
    queue: WorkQueue[str] = WorkQueue(process, workers=1)
    queue.start()
    queue.add("a")
    await asyncio.sleep(1)
    queue.add("a")  # while running: re-run right after, at 10
    queue.add("a", delay=20)  # later than that re-run: absorbed by it
    await asyncio.sleep(60)
    await queue.stop()
    assert process.times("a") == [0, 10]


async def test_keys_backing_off_run_at_once_when_the_api_is_back(caplog):
    starts: list[float] = []
    healthy = False

    async def process(key: str) -> None:
        starts.append(asyncio.get_running_loop().time())
        if not healthy:
            raise RetryableError("no answer from the apiserver")

    queue: WorkQueue[str] = WorkQueue(process, max_backoff=60)
    queue.start()
    queue.add("a")
    await asyncio.sleep(40)  # failures at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5: next at 63.5
    assert starts[-1] == pytest.approx(31.5)
    healthy = True
    queue.retry_failed_now()
    await asyncio.sleep(1)
    await queue.stop()
    assert starts[-1] == pytest.approx(40)  # at once, not after the 32 s backoff
    # expected failures are one warning line each, without a traceback
    assert all(record.exc_info is None for record in caplog.records)
    assert any("no answer from the apiserver" in record.getMessage() for record in caplog.records)
