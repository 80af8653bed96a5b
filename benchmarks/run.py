"""`python -m benchmarks.run [--quick] [--reloader BIN] [--only a,b] [--out DIR]`: the
scenarios on dedicated local clusters, a JSON + Markdown report in benchmarks/results/,
the table on stdout. Exits non-zero when a scenario crashed (never because of a time)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from . import groups
from .cluster import REPO, Cluster, bench_cache_root
from .harness import Bench, Sizes
from .machine import metadata
from .markdown import markdown
from .runner import Runner, log
from .scenarios import SCENARIOS
from .targets import evaluate

QUICK_READY_DELAY_MS = 200
OVERRIDES = {
    "reps": "reps",
    "scale": "scale_rollouts",
    "unmanaged": "unmanaged",
    "idle": "idle_seconds",
    "many": "many_rollouts",
    "burst": "burst",
    "managed": "managed",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument(
        "--reloader",
        type=Path,
        default=os.environ.get("RELOADER_BIN") or None,
        help="Reloader binary (benchmarks/reloader/build.sh); default $RELOADER_BIN",
    )
    for flag in ("reps", "scale", "unmanaged", "many", "burst", "managed"):
        parser.add_argument(f"--{flag}", type=int, help=f"override the size {OVERRIDES[flag]}")
    parser.add_argument("--idle", type=float, help="idle window seconds")
    parser.add_argument(
        "--operator-args",
        default="",
        help="extra flags for every operator process (e.g. '--workers 32'), to try settings",
    )
    parser.add_argument(
        "--pyspy",
        action="store_true",
        help="py-spy the operator during the scale window (pip install py-spy; a run of its own)",
    )
    return parser


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes.full()
    chosen = {field: getattr(args, flag) for flag, field in OVERRIDES.items()}
    return dataclasses.replace(sizes, **{k: v for k, v in chosen.items() if v is not None})


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_groups(bench: Bench, runner: Runner) -> bool:
    """Every wanted group; False when interrupted. The cluster is always deleted."""
    try:
        for group, names in (
            ("small", groups.run_small),
            ("scale", groups.run_scale),
            ("big", groups.run_big),
        ):
            if runner.wanted(*[n for n, (g, _) in SCENARIOS.items() if g == group]):
                names(bench, runner)
    except KeyboardInterrupt:
        log("interrupted; tearing down")
        return False
    finally:
        bench.close()
        try:
            bench.cluster.down()
        except Exception as error:  # report, but still write the results
            log(f"cluster teardown failed: {error}")
    return True


def _write(out: Path, stamp: str, meta: dict[str, object], runner: Runner) -> Path:
    chosen = runner.chosen()
    goals = evaluate(runner.results)
    report = markdown(meta, chosen, goals)
    document = {**meta, "scenarios": [r.to_json() for r in chosen], "targets": goals}
    (out / f"{stamp}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    md_path = out / f"{stamp}.md"
    md_path.write_text(report + "\n")
    print(report)
    return md_path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = _sizes(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    log_dir = args.out / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    runner = Runner([x.strip() for x in args.only.split(",") if x.strip()])
    # Quick runs are smoke tests: pods get Ready sooner, so rollouts take less waiting.
    ready_delay = QUICK_READY_DELAY_MS if args.quick else 1000
    cluster = Cluster(bench_cache_root(), log_dir / "cluster.log", ready_delay)
    reloader = args.reloader.resolve() if args.reloader else None
    meta = metadata(sizes, args.quick, cluster, reloader)
    bench = Bench(cluster, sizes, log_dir, reloader)
    bench.pyspy = args.pyspy
    bench.operator_args = tuple(args.operator_args.split())
    if args.operator_args:
        meta["config"]["operator_args"] = args.operator_args
    log(f"cluster cache root {cluster.root}; logs in {log_dir}; Reloader: {reloader}")
    started = time.monotonic()
    finished = _run_groups(bench, runner)
    meta.update(seconds=round(time.monotonic() - started, 1), interrupted=not finished)
    md_path = _write(args.out, stamp, meta, runner)
    failed = [r.name for r in runner.chosen() if not r.ok]
    crashed = f" (crashed: {', '.join(failed)})" if failed else ""
    print(f"bench: {meta['seconds']:.0f} s, report {md_path}{crashed}")
    # Last, in the plain "N passed, N failed" form that CI summaries recognise.
    print(f"bench: {len(runner.chosen()) - len(failed)} passed, {len(failed)} failed")
    if not finished:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
