"""What the scenarios share: sizes, the cluster, a client, watches and the tools' processes
(all stopped by close(), also on a crash or Ctrl-C)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from . import cpuprofile
from . import objects as o
from .cluster import Cluster
from .kapi import Api, Watch, WatchEvent
from .metrics import APISERVER_REQUESTS, Samples, parse_selected
from .timing import ReadyTracker
from .tools import Operator, Reloader


@dataclass(frozen=True)
class Sizes:
    reps: int  # repetitions of the latency scenarios
    scale_rollouts: int  # Rollouts created at once (scale)
    namespaces: int
    unmanaged: int  # unmanaged Deployments and as many ConfigMaps (big setup)
    configmap_bytes: int
    managed: int  # managed workloads per tool (big setup)
    burst: int  # ConfigMaps edited at once
    many_rollouts: int  # the 1-replica Rollouts of rollouts-5000
    idle_seconds: float
    startup_reps: int
    big_replicas: int  # replicas of the status-write scenario
    edit_interval: float  # seconds between edits during a start
    grace: float  # seconds after the last edit during a start before an edit counts as dropped
    pace: float  # factor on the fixed waits (settle windows, pauses); quick runs shorten them

    @classmethod
    def quick(cls) -> Sizes:
        return cls(3, 20, 10, 200, 4096, 10, 20, 40, 3, 1, 10, 0.3, 8, 0.25)

    @classmethod
    def full(cls) -> Sizes:
        return cls(30, 1000, 10, 5000, 4096, 100, 1000, 5000, 60, 3, 100, 0.2, 90, 1.0)

    def wait(self, seconds: float) -> float:
        """A fixed wait of the full run (a settle window, a pause), scaled by `pace`."""
        return seconds * self.pace


class Bench:
    def __init__(
        self, cluster: Cluster, sizes: Sizes, log_dir: Path, reloader_bin: Path | None
    ) -> None:
        self.cluster = cluster
        self.sizes = sizes
        self.log_dir = log_dir
        self.reloader_bin = reloader_bin
        self._api: Api | None = None
        self._watches: list[Watch] = []
        self._processes: list[Operator | Reloader] = []
        self._runs = 0
        #: py-spy the operator during the windows scenarios mark with cpu_profile().
        self.pyspy = False
        #: Extra flags for every operator process (--operator-args).
        self.operator_args: tuple[str, ...] = ()

    @property
    def api(self) -> Api:
        assert self._api is not None, "no cluster yet"
        return self._api

    def fresh_cluster(self, nodes: int) -> Api:
        self.close()
        self.cluster.fresh(nodes)
        self._api = Api(self.cluster.kubeconfig)
        # "Established" comes before the CRD's watch cache is ready; until then LISTs get
        # 429 "storage is (re)initializing" and the operator's start would wait a retry.
        deadline = time.monotonic() + 60
        while (status := self._api.raw("GET", o.rollouts_path())[0]) != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"listing Rollouts still answers {status} after 60 s")
            time.sleep(0.1)
        return self._api

    def watch(
        self,
        path: str,
        label_selector: str | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> Watch:
        watch = Watch(self.api, path, label_selector, on_event).start()
        self._watches.append(watch)
        return watch

    def _name(self, name: str) -> str:
        self._runs += 1
        return f"{self._runs:02d}-{name}"

    def operator(
        self,
        *args: str,
        name: str = "operator",
        wait: bool = True,
        env: dict[str, str] | None = None,
        module: str = "rollout_operator",
    ) -> Operator:
        process = Operator(
            self.cluster.kubeconfig,
            self.log_dir,
            self._name(name),
            args=(*args, *self.operator_args),
            env=env,
            module=module,
        )
        self._processes.append(process)
        process.start(wait=wait, timeout=120)
        return process

    def reloader(
        self,
        *args: str,
        name: str = "reloader",
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Reloader:
        assert self.reloader_bin is not None
        process = Reloader(
            self.reloader_bin,
            self.cluster.kubeconfig,
            self.log_dir,
            self._name(name),
            args=args,
            env=env,
        )
        self._processes.append(process)
        process.start(wait=wait, timeout=120)
        return process

    def cpu_profile(self, tool: Operator | Reloader, name: str) -> AbstractContextManager[None]:
        """py-spy record of `tool` over a block when --pyspy was given (logs: <name>.*)."""
        if not self.pyspy:
            return nullcontext()
        return cpuprofile.recording(tool.pid, self.log_dir / f"{name}.pyspy.txt")

    def stop_tools(self) -> None:
        for process in self._processes:
            process.stop()
        self._processes = []

    def close(self) -> None:
        """Stop the tools and watches (the cluster stays)."""
        self.stop_tools()
        for watch in self._watches:
            watch.stop()
        self._watches = []

    def apiserver_requests(self) -> Samples:
        return parse_selected(self.api.metrics_text(), [APISERVER_REQUESTS])

    def namespaces(self, *names: str) -> None:
        self.api.create_many([("/api/v1/namespaces", o.namespace(n)) for n in names])

    def kubectl_command(self, *args: str) -> list[str]:
        return [
            str(self.cluster.bin_dir / "kubectl"),
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            *args,
        ]

    def wait_deployments(self, expected: int, selector: str, timeout: float = 1800) -> None:
        """Until `expected` Deployments matching `selector` are rolled out."""
        tracker = ReadyTracker(o.deployment_done, expected)
        watch = self.watch(o.deployments_path(), selector, tracker.on_event)
        tracker.seed(watch)
        tracker.wait(timeout, "Deployments rolled out")
        watch.stop()


def spread(prefix: str, count: int, namespaces: Sequence[str]) -> list[tuple[str, str]]:
    """(namespace, name) of `count` objects named prefix + index, round-robin over namespaces."""
    return [(namespaces[i % len(namespaces)], f"{prefix}{i:05d}") for i in range(count)]
