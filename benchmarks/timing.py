"""Clocks of the benchmark: timed subprocesses, trackers over watches, CPU/RSS sampling.

Every duration is a difference of time.monotonic() readings in this process; watch events
are stamped when their bytes arrive (kapi.Watch)."""

from __future__ import annotations

import itertools
import math
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from .kapi import Watch, WatchEvent


class Measured(Protocol):
    def cpu_seconds(self) -> float: ...
    def memory(self) -> dict[str, int]: ...


def run_timed(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, float, str]:
    """Run a subprocess; (monotonic start, monotonic exit, output). Fails on non-zero exit."""
    start = time.monotonic()
    result = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=180, check=False
    )
    end = time.monotonic()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed: {result.stderr.strip()}")
    return start, end, result.stdout


class Background:
    """A subprocess whose exit is stamped by a thread blocked in wait()."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.command = list(command)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.exited = math.nan
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        self.process.wait()
        self.exited = time.monotonic()

    def join(self, timeout: float = 180) -> float:
        self._thread.join(timeout)
        what = " ".join(self.command[3:])
        if self._thread.is_alive():
            self.process.kill()
            raise TimeoutError(f"{what} did not exit")
        assert self.process.stdout is not None
        output = self.process.stdout.read()
        if self.process.returncode != 0:
            raise RuntimeError(f"{what} exited {self.process.returncode}: {output.strip()}")
        return self.exited


def named(namespace: str, name: str) -> Callable[[dict[str, Any]], bool]:
    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return bool(meta.get("namespace") == namespace and meta.get("name") == name)

    return match


def event(
    namespace: str, name: str, predicate: Callable[[dict[str, Any]], bool]
) -> Callable[[str, dict[str, Any]], bool]:
    """A Watch.wait predicate: a non-delete event of that object satisfying `predicate`."""
    is_it = named(namespace, name)
    return lambda kind, obj: kind != "DELETED" and is_it(obj) and predicate(obj)


class ReadyTracker:
    """Keys of a watch whose objects satisfy a predicate, and when each first did."""

    def __init__(self, predicate: Callable[[dict[str, Any]], bool], expected: int) -> None:
        self.predicate = predicate
        self.expected = expected
        self.first: dict[tuple[str, str], float] = {}
        self.done = threading.Event()
        self._lock = threading.Lock()

    def seed(self, watch: Watch) -> None:
        now = time.monotonic()
        for obj in watch.snapshot():
            self._see(now, obj)

    def on_event(self, event: WatchEvent) -> None:
        arrived, kind, obj = event
        if kind != "DELETED":
            self._see(arrived, obj)

    def _see(self, arrived: float, obj: dict[str, Any]) -> None:
        if not self.predicate(obj):
            return
        meta = obj["metadata"]
        with self._lock:
            self.first.setdefault((meta["namespace"], meta["name"]), arrived)
            if len(self.first) >= self.expected:
                self.done.set()

    def wait(self, timeout: float, what: str) -> float:
        """When the last expected key first satisfied the predicate."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"{what}: {len(self.first)} of {self.expected} after {timeout:g}s")
        return max(self.first.values())


Sample = tuple[float, float, int]  # (monotonic, CPU seconds, VmRSS bytes)


@contextmanager
def sampling(process: Measured, interval: float = 1.0) -> Iterator[list[Sample]]:
    """Samples the process every `interval` while the block runs (and once at its end)."""
    samples: list[Sample] = []
    stop = threading.Event()

    def take() -> None:
        samples.append((time.monotonic(), process.cpu_seconds(), process.memory()["VmRSS"]))

    def loop() -> None:
        take()
        while not stop.wait(interval):
            take()
        take()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def cpu_percent(samples: Sequence[Sample]) -> list[float]:
    """CPU use between consecutive samples, in % of one core."""
    return [
        100 * (c1 - c0) / (t1 - t0)
        for (t0, c0, _), (t1, c1, _) in itertools.pairwise(samples)
        if t1 > t0
    ]
