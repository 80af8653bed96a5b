"""`python -m benchmarks.run [--quick] [--out DIR]`: every scenario on a dedicated local
cluster, a JSON + Markdown report in benchmarks/results/, the table on stdout.

Exits non-zero when a scenario crashed (never because of a measured time).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from . import scenarios
from .cluster import REPO, Cluster, bench_cache_root, versions
from .operator_proc import Operator
from .report import Row, ScenarioResult, fmt, markdown

TITLES = {
    1: "Reaction latency: Rollout spec change → workload pod template updated",
    2: "Completion detection: workload done → Rollout Ready",
    3: "Config-change restart latency: ConfigMap edit → pod template restarted",
    4: "Scale: N Rollouts created at once, each changing its Deployment's image",
    5: "Quiet cost: idle operator among many unmanaged objects",
    6: "Startup: operator restart with N Rollouts already Succeeded",
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "operator") else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return math.nan


def metadata(sizes: scenarios.Sizes, quick: bool, cluster: Cluster) -> dict[str, Any]:
    pinned = versions()
    return {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "quick": quick,
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory_gib": _memory_gib(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "platform": platform.platform(),
        },
        "versions": {
            "kubernetes": pinned.get("KUBE_VERSION"),
            "etcd": pinned.get("ETCD_VERSION"),
            "kwok": pinned.get("KWOK_VERSION"),
            "python": platform.python_version(),
            "kopf": _version("kopf"),
            "kubernetes_client": _version("kubernetes"),
            "prometheus_client": _version("prometheus-client"),
            "operator": _version("rollout-operator"),
            "git": _git(),
        },
        "config": {
            **dataclasses.asdict(sizes),
            "pod_ready_delay_ms": cluster.ready_delay_ms,
            "cache_root": str(cluster.root),
        },
    }


def _row(result: ScenarioResult, prefix: str) -> Row | None:
    return next((r for r in result.rows if r.label.startswith(prefix)), None)


def targets(results: dict[int, ScenarioResult]) -> list[dict[str, Any]]:
    """The goals from the issue, measured (reported, never asserted)."""
    found: list[dict[str, Any]] = []

    def add(target: str, rows: Sequence[Row | None], check: Any, measured: Any) -> None:
        if any(r is None or math.isnan(r.median) for r in rows):
            found.append({"target": target, "measured": "not measured", "met": None})
        else:
            found.append({"target": target, "measured": measured(*rows), "met": bool(check(*rows))})

    r = results
    add(
        "reaction p50 within 2x bare `kubectl patch` p50",
        [_row(r[1], "operator: Rollout spec edit"), _row(r[1], "reference: `kubectl patch")],
        lambda a, b: a.median <= 2 * b.median,
        lambda a, b: f"{fmt(a.median, 's')} vs 2 x {fmt(b.median, 's')}",
    )
    add(
        "completion p50 no later than `kubectl rollout status` p50",
        [_row(r[2], "operator: Deployment done"), _row(r[2], "reference: Deployment done")],
        lambda a, b: a.median <= b.median,
        lambda a, b: f"{fmt(a.median, 's')} vs {fmt(b.median, 's')}",
    )
    add(
        "zero operator writes while idle",
        [_row(r[5], "operator writes per minute while idle")],
        lambda a: a.median == 0,
        lambda a: fmt(a.median, "per-min"),
    )
    add(
        "1 workload write per change (scale)",
        [_row(r[4], "workload writes per change (operator")],
        lambda a: a.median == 1,
        lambda a: fmt(a.median, "count"),
    )
    add(
        "1 workload write per spec change (scenario 1)",
        [_row(r[1], "operator workload patches per spec change")],
        lambda a: a.median == 1,
        lambda a: fmt(a.median, "count"),
    )
    add(
        "no status writes on a restart when nothing changed",
        [_row(r[6], "status writes per start")],
        lambda a: max(a.samples) == 0,
        lambda a: f"max {max(a.samples):.0f}",
    )
    return found


class Runner:
    def __init__(self, selected: set[int]) -> None:
        self.selected = selected
        self.results = {n: ScenarioResult(n, title) for n, title in TITLES.items()}

    @contextmanager
    def scenario(self, *numbers: int, what: str = "") -> Iterator[list[ScenarioResult]]:
        chosen = [self.results[n] for n in numbers]
        what = what or chosen[0].title
        log(f"scenario {', '.join(map(str, numbers))}: {what}")
        start = time.monotonic()
        try:
            yield chosen
        except Exception:  # a crash fails the scenario; the others still run
            error = traceback.format_exc()
            log(f"scenario {', '.join(map(str, numbers))} FAILED:\n{error}")
            for result in chosen:
                result.ok, result.error = False, error
        finally:
            for result in chosen:
                result.seconds += time.monotonic() - start
        log(f"scenario {', '.join(map(str, numbers))} done in {time.monotonic() - start:.0f} s")

    def wanted(self, *numbers: int) -> bool:
        return any(n in self.selected for n in numbers)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_all(bench: scenarios.Bench, runner: Runner) -> None:
    results = runner.results
    sizes = bench.sizes
    if runner.wanted(1, 2, 3):
        with runner.scenario(1, 2, 3, what="setup (cluster, CRD, operator)"):
            bench.fresh_cluster(3)
            operator = bench.operator(name="default")
        if results[1].ok:
            if runner.wanted(1, 2):
                with runner.scenario(1, 2):
                    scenarios.reaction_and_completion(bench, operator, results[1], results[2])
            if runner.wanted(3):
                with runner.scenario(3):
                    scenarios.restart(bench, operator, results[3])
        bench.close()

    if runner.wanted(4, 6):
        # Room for every pod during the rolling update (maxSurge 1): kwok nodes take 110.
        nodes = max(3, math.ceil(2 * sizes.scale_rollouts / 100) + 1)
        scaled: Operator | None = None
        with runner.scenario(4):
            bench.fresh_cluster(nodes)
            scaled = scenarios.scale(bench, results[4])
        if runner.wanted(6):
            with runner.scenario(6):
                if scaled is None or not results[4].ok:
                    raise RuntimeError("needs the Rollouts of scenario 4, which failed")
                scenarios.startup(bench, scaled, results[6])
        bench.close()

    if runner.wanted(5):
        with runner.scenario(5):
            bench.fresh_cluster(3)
            scenarios.quiet(bench, results[5])
        bench.close()


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="report directory (default: %(default)s)",
    )
    parser.add_argument("--only", default="1,2,3,4,5,6", help="scenarios to run, e.g. 4,6")
    parser.add_argument("--reps", type=int, help="repetitions of scenarios 1-3")
    parser.add_argument("--scale", type=int, help="Rollouts in scenarios 4 and 6")
    parser.add_argument("--unmanaged", type=int, help="unmanaged Deployments/ConfigMaps (5)")
    parser.add_argument("--idle", type=float, help="idle window seconds (5)")
    args = parser.parse_args(argv)

    sizes = scenarios.Sizes.quick() if args.quick else scenarios.Sizes.full()
    overrides = {
        "reps": args.reps,
        "scale_rollouts": args.scale,
        "unmanaged": args.unmanaged,
        "idle_seconds": args.idle,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    selected = {int(x) for x in args.only.split(",") if x.strip()}

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    out: Path = args.out
    log_dir = out / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)

    runner = Runner(selected)
    cluster = Cluster(bench_cache_root(), log_dir / "cluster.log")
    meta = metadata(sizes, args.quick, cluster)
    bench = scenarios.Bench(cluster, sizes, log_dir)
    log(f"cluster cache root {cluster.root}; logs in {log_dir}")
    started = time.monotonic()
    interrupted = False
    try:
        run_all(bench, runner)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; tearing down")
    finally:
        bench.close()
        try:
            cluster.down()
        except Exception as error:  # report, but still write the results
            log(f"cluster teardown failed: {error}")

    chosen = [r for n, r in runner.results.items() if n in selected]
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["interrupted"] = interrupted
    goals = targets(runner.results)
    report = markdown(meta, chosen, goals)
    json_path, md_path = out / f"{stamp}.json", out / f"{stamp}.md"
    json_path.write_text(
        json.dumps(
            {**meta, "scenarios": [r.to_json() for r in chosen], "targets": goals},
            indent=2,
            default=str,
        )
        + "\n"
    )
    md_path.write_text(report + "\n")
    print(report)
    failed = [r.number for r in chosen if not r.ok]
    try:
        shown = md_path.relative_to(Path.cwd())
    except ValueError:
        shown = md_path
    crashed = f" (crashed: {', '.join(map(str, failed))})" if failed else ""
    print(f"bench: {meta['seconds']:.0f} s, report {shown}{crashed}")
    # Last, in the plain "N passed, N failed" form that CI summaries recognise.
    print(f"bench: {len(chosen) - len(failed)} passed, {len(failed)} failed")
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
