"""Where the operator's CPU goes: py-spy sampling a running operator (`--pyspy`), and a
summary of its collapsed stacks by function (own time and time including callees).

py-spy is not a dependency: `pip install py-spy` to use it. It samples from outside the
process (no instrumentation), so the run it profiles keeps its speed; profile a run of its
own anyway (`--only scale --pyspy`) and compare its figures with an unprofiled run."""

from __future__ import annotations

import collections
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RATE = 100  # samples per second


@contextmanager
def recording(pid: int, out: Path) -> Iterator[None]:
    """py-spy record of `pid` while the block runs; collapsed stacks in `out`."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [binary, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
               "--nonblocking", "--output", str(out)]  # fmt: skip
    log = out.with_suffix(".log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if out.exists():
            summary = summarize(out)
            out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")


def _frame(frame: str) -> str:
    """'function (path/to/module.py:12)' → 'function (module.py)': lines merged."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')').rsplit(':', 1)[0]).name})" if where else name


def summarize(path: Path, top: int = 40) -> dict[str, object]:
    """Own and inclusive samples per function, in % of all samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count

    def percent(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / max(total, 1), 1)) for k, v in counter.most_common(top)]

    return {"samples": total, "rate": RATE, "own": percent(own), "inclusive": percent(inclusive)}
