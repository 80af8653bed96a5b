import asyncio

from rollout_operator.workqueue import WorkQueue


def run(coro):
    return asyncio.run(coro)


def test_burst_of_adds_for_one_key_runs_once_and_never_concurrently():
    calls: list[str] = []
    running = 0
    peak = 0

    async def process(key: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        calls.append(key)
        await asyncio.sleep(0.01)
        running -= 1

    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(process, workers=4)
        queue.start()
        for _ in range(50):
            queue.add("a")
        queue.add("b")
        await asyncio.sleep(0.1)
        await queue.stop()

    run(scenario())
    assert sorted(calls) == ["a", "b"]
    assert peak <= 2


def test_add_while_processing_reruns_after():
    calls: list[int] = []
    event = asyncio.Event

    async def scenario() -> None:
        started = event()

        async def process(key: str) -> None:
            calls.append(len(calls))
            started.set()
            await asyncio.sleep(0.02)

        queue: WorkQueue[str] = WorkQueue(process, workers=2)
        queue.start()
        queue.add("a")
        await started.wait()
        queue.add("a")  # lands while the first run is active
        await asyncio.sleep(0.1)
        await queue.stop()

    run(scenario())
    assert calls == [0, 1]


def test_delayed_add_coalesces_and_earliest_schedule_wins():
    times: list[float] = []

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def process(key: str) -> None:
            times.append(loop.time() - start)

        queue: WorkQueue[str] = WorkQueue(process)
        queue.start()
        queue.add("a", 5.0)
        queue.add("a", 0.05)  # the earlier schedule wins...
        queue.add("a", 3.0)  # ...and a later one is absorbed
        await asyncio.sleep(0.6)
        await queue.stop()
        return start

    run(scenario())
    assert len(times) == 1  # ran once, long before the 3 s and 5 s schedules
    assert times[0] < 3.0


def test_failures_retry_with_backoff_and_requeue_after_is_honoured():
    calls: list[str] = []

    async def scenario() -> None:
        async def process(key: str) -> float | None:
            calls.append(key)
            if key == "fails" and calls.count("fails") == 1:
                raise RuntimeError("boom")
            if key == "again" and calls.count("again") == 1:
                return 0.01
            return None

        queue: WorkQueue[str] = WorkQueue(process, max_backoff=0.05)
        queue.start()
        queue.add("fails")
        queue.add("again")
        await asyncio.sleep(0.7)
        await queue.stop()

    run(scenario())
    assert calls.count("fails") == 2
    assert calls.count("again") == 2
