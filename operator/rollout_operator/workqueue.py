"""A keyed work queue, in the spirit of client-go's: coalescing, delayed, one worker per key.

Many events map to one Rollout (its own, its workload's, each referenced ConfigMap's).
Reconciling per key instead of per event means a burst of events costs one reconcile,
two reconciles of the same Rollout never race, and delays (debounce, deadlines, retries)
are timers rather than polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)

#: Process one key; return seconds until it should be looked at again, or None.
Processor = Callable[[K], Awaitable[float | None]]


class RetryableError(Exception):
    """A failure that may pass by itself: back off and try again, without a traceback."""


class WorkQueue(Generic[K]):
    """Runs `process(key)` for added keys on `workers` tasks, never twice at once per key."""

    def __init__(
        self,
        process: Processor[K],
        workers: int = 4,
        max_backoff: float = 60.0,
    ) -> None:
        self._process = process
        self._workers = workers
        self._max_backoff = max_backoff
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._due: dict[K, float] = {}  # earliest time a scheduled key becomes ready
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._queued: set[K] = set()
        self._active: dict[K, float] = {}  # key -> loop time its processing started
        self._dirty: set[K] = set()  # added again while being processed
        self._failures: dict[K, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        """Keys waiting (ready, scheduled or to be re-run)."""
        return len(self._queued | set(self._due) | self._dirty)

    def longest_running(self) -> float:
        """Seconds the oldest running `process` call has taken so far (0 when idle)."""
        if not self._active:
            return 0.0
        return asyncio.get_running_loop().time() - min(self._active.values())

    def retry_failed_now(self) -> None:
        """Run every key that is backing off after failures at once (the API is back)."""
        failed = list(self._failures)
        self._failures.clear()
        for key in failed:
            self.add(key)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule `key`; an earlier schedule for it wins over a later one."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(delay, 0.0)
        if key in self._queued or self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        if timer := self._timers.pop(key, None):
            timer.cancel()
        if delay <= 0:
            self._make_ready(key)
        else:
            self._timers[key] = loop.call_later(delay, self._make_ready, key)

    def _make_ready(self, key: K) -> None:
        if timer := self._timers.pop(key, None):
            timer.cancel()  # made ready early (a re-run): its schedule must not fire again
        self._due.pop(key, None)
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            self._active[key] = asyncio.get_running_loop().time()
            again: float | None
            try:
                again = await self._process(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except RetryableError as error:  # expected (the API is away): one line, no traceback
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                again = min(0.5 * 2 ** (failures - 1), self._max_backoff)
                log.warning(
                    "Reconciling %s failed (attempt %d): %s; retrying in %.1fs",
                    key, failures, error, again,
                )  # fmt: skip
            except Exception:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                again = min(0.5 * 2 ** (failures - 1), self._max_backoff)
                log.exception(
                    "Reconciling %s failed (attempt %d); retrying in %.1fs", key, failures, again
                )
            finally:
                self._active.pop(key, None)
            if key in self._dirty:
                self._dirty.discard(key)
                self._make_ready(key)
            elif again is not None:
                self.add(key, again)

    def start(self) -> None:
        """Start the worker tasks on the running loop."""
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        """Cancel workers and timers; pending keys are dropped."""
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
