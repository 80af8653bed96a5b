"""ha: two replicas of a tool in HA mode on the big setup; what the standby costs (RSS,
CPU over the idle window) next to the leader. Ours: `--leader-elect` (Lease) when the
operator has it, else kopf peering (`--peering`, the code before the Lease rewrite)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.e2e.kube import wait_for

from ..cluster import REPO
from ..harness import Bench
from ..report import ScenarioResult
from ..timing import sampling
from ..tools import OPERATOR, Operator, Reloader
from . import big as b

TITLE = "HA: what a standby replica costs on the big setup"
NS = "bench-ha"
PEERING_CRD = REPO / "manifests" / "crd" / "kopf-peering.yaml"
FIGURES = (
    ("standby_rss", "standby RSS after the idle window", "bytes"),
    ("standby_cpu", "standby CPU over the idle window", "cpu-s"),
    ("leader_rss", "leader RSS after the idle window", "bytes"),
    ("leader_cpu", "leader CPU over the idle window", "cpu-s"),
)


def operator_mode(bench: Bench) -> tuple[list[str], str]:
    """(flags, description) of the operator's HA mode."""
    help_text = subprocess.run(
        [sys.executable, "-m", "rollout_operator", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "--leader-elect" in help_text:
        return ["--leader-elect", "--leader-election-namespace", NS], "--leader-elect (Lease)"
    bench.cluster.kubectl("apply", "--server-side", "-f", str(PEERING_CRD), check=True)
    bench.cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/clusterkopfpeerings.kopf.dev",
        check=True,
    )
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "bench"},
    }
    bench.cluster.kubectl.apply(peering, "default")
    return ["--peering", "bench"], "kopf peering (--peering)"


def _replicas(bench: Bench, label: str, flags: list[str]) -> list[Operator | Reloader]:
    replicas: list[Operator | Reloader] = []
    for i in range(2):
        env = {"POD_NAME": f"bench-ha-{i}", "POD_NAMESPACE": NS}
        if label == OPERATOR:
            replicas.append(bench.operator(*flags, name=f"ha-{i}", env=env))
        else:
            replicas.append(bench.reloader("--enable-ha", name=f"reloader-ha-{i}", env=env))
        if i == 0:  # the first one leads before the second starts
            wait_for(replicas[0].is_leader, timeout=120, interval=0.2, what=f"{label} leader")
    # kopf peering hands over to the higher (random) priority: whichever leads in the end.
    wait_for(lambda: [r.is_leader() for r in replicas].count(True) == 1, timeout=120,
             interval=0.2, what=f"exactly one {label} leader")  # fmt: skip
    time.sleep(bench.sizes.wait(5.0))  # a hand-over right after the second start shows only now
    wait_for(lambda: [r.is_leader() for r in replicas].count(True) == 1, timeout=120,
             interval=0.2, what=f"exactly one {label} leader")  # fmt: skip
    return sorted(replicas, key=lambda r: not r.is_leader())


def measure(bench: Bench, big: b.Big, label: str, flags: list[str]) -> b.Figures:
    bench.namespaces(NS)
    leader, standby = _replicas(bench, label, flags)
    b.settle(bench, leader, len(big.managed[label]))
    with sampling(standby) as quiet, sampling(leader) as busy:
        time.sleep(bench.sizes.idle_seconds)
    figures = {
        "standby_rss": standby.memory()["VmRSS"],
        "standby_cpu": quiet[-1][1] - quiet[0][1],
        "leader_rss": leader.memory()["VmRSS"],
        "leader_cpu": busy[-1][1] - busy[0][1],
    }
    if standby.is_leader() or not leader.is_leader():
        raise RuntimeError(f"{label}: the leader changed during the window")
    bench.stop_tools()
    return figures


def finish(result: ScenarioResult, by_tool: dict[str, b.Figures], mode: str) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(f"Ours in HA mode: {mode}. Reloader: --enable-ha (Lease).")
