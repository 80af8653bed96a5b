"""The commands: read through `cluster`, decide with the pure core, print, write.

Progress lines go to stdout, errors to stderr, as kubectl does, so a CI log keeps both and
`2>/dev/null` keeps only the progress.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from ..names import WORKLOAD_PLURALS
from . import edits, render
from .cluster import Cluster, ClusterError, ConflictError
from .exitcodes import ExitCode
from .judge import Look, Progress, State, judge, overall

#: Attempts at a conditional spec write when someone else keeps changing the Rollout.
WRITE_ATTEMPTS: Final = 5


class NotFoundError(ClusterError):
    """A Rollout the user named does not exist."""


@dataclass
class Output:
    """Where a command prints; tests and the shell pass real streams."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out, flush=True)

    def warn(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.err, flush=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _namespace(args: argparse.Namespace, cluster: Cluster) -> str:
    return str(args.namespace or cluster.namespace)


async def _rollout(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    rollout = await cluster.rollout(namespace, name)
    if rollout is None:
        raise NotFoundError(f'rollout "{name}" not found in namespace "{namespace}"')
    return rollout


def _target(rollout: Mapping[str, Any]) -> tuple[str, str]:
    ref = (rollout.get("spec") or {}).get("targetRef") or {}
    return str(ref.get("kind", "")), str(ref.get("name", ""))


async def _workload(cluster: Cluster, rollout: Mapping[str, Any]) -> dict[str, Any] | None:
    kind, name = _target(rollout)
    namespace = rollout["metadata"]["namespace"]
    return await cluster.workload(kind, namespace, name)


# --- status -----------------------------------------------------------------------------


#: (source, Rollout name, event type, object); source "error" carries the exception.
_Event = tuple[str, str, str, Any]


async def _pump(
    queue: asyncio.Queue[_Event],
    source: str,
    name: str,
    events: AsyncIterator[tuple[str, dict[str, Any]]],
) -> None:
    """Forward one watch's events; its failure too, so the waiting loop ends with it."""
    try:
        async for kind, obj in events:
            await queue.put((source, name, kind, obj))
        error: Exception = ClusterError(f"the watch of {source} {name} ended")
    except Exception as caught:
        error = caught
    await queue.put(("error", name, "", error))


@dataclass
class _Board:
    """The latest Rollouts and workloads, judged again after every change."""

    rollouts: dict[str, dict[str, Any]]
    workloads: dict[str, dict[str, Any] | None]
    output: Output
    progress: Progress = field(init=False)
    looks: dict[str, Look] = field(init=False)

    def __post_init__(self) -> None:
        self.progress = Progress(self.rollouts)
        self.look()

    def look(self) -> None:
        """Judge every Rollout; print the lines that changed."""
        self.looks = {n: judge(r, self.workloads[n]) for n, r in self.rollouts.items()}
        self.output.say(*self.progress.lines(self.looks))

    @property
    def state(self) -> State:
        return overall(self.looks.values())

    def pending(self) -> dict[str, Look]:
        return {n: look for n, look in self.looks.items() if look.state is not State.READY}


async def status(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """Wait until every Rollout is Ready (0), one fails (1), or the wait ends (3)."""
    namespace = _namespace(args, cluster)
    if args.selector:
        found = await cluster.rollouts(namespace, args.selector)
        if not found:
            raise NotFoundError(
                f'no rollouts match selector "{args.selector}" in namespace "{namespace}"'
            )
        rollouts = {r["metadata"]["name"]: r for r in found}
    else:
        names = list(dict.fromkeys(args.names))
        rollouts = {name: await _rollout(cluster, namespace, name) for name in names}
    workloads = {name: await _workload(cluster, r) for name, r in rollouts.items()}
    board = _Board(rollouts, workloads, output)
    if args.watch and board.state is State.WAITING:
        try:
            async with asyncio.timeout(args.timeout or None):
                await _wait(cluster, namespace, board)
        except TimeoutError:
            output.warn(*render.timeout_report(args.timeout, board.pending()))
            return ExitCode.NOT_DONE
    if board.state is State.FAILED:
        for name, look in board.looks.items():
            if look.state is State.FAILED:
                output.warn(*render.failure_report(name, look))
        return ExitCode.FAILED
    if board.state is State.READY:
        return ExitCode.OK
    output.warn(
        "still progressing (--watch=false):",
        *[f'  rollout "{n}": {look.line}' for n, look in board.pending().items()],
    )
    return ExitCode.NOT_DONE


async def _wait(cluster: Cluster, namespace: str, board: _Board) -> None:
    """Watch every Rollout and its workload; return once none is still waiting."""
    queue: asyncio.Queue[_Event] = asyncio.Queue()
    pumps = []
    for name, rollout in board.rollouts.items():
        pumps.append(_pump(queue, "rollout", name, cluster.follow_rollout(namespace, name)))
        kind, target = _target(rollout)
        if kind in WORKLOAD_PLURALS:
            events = cluster.follow_workload(kind, namespace, target)
            pumps.append(_pump(queue, "workload", name, events))
    tasks = [asyncio.create_task(pump) for pump in pumps]
    try:
        while board.state is State.WAITING:
            source, name, kind, obj = await queue.get()
            if source == "error":
                raise obj
            if source == "rollout":
                if kind == "DELETED":
                    raise NotFoundError(f'rollout "{name}" was deleted while waiting')
                board.rollouts[name] = obj
            else:
                board.workloads[name] = None if kind == "DELETED" else obj
            board.look()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- reads ------------------------------------------------------------------------------


async def get(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`get NAME`: the Rollout in detail."""
    rollout = await _rollout(cluster, _namespace(args, cluster), args.name)
    output.say(render.details(rollout, await _workload(cluster, rollout), _now()))
    return ExitCode.OK


async def list_(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`list`: the table."""
    namespace = None if args.all_namespaces else _namespace(args, cluster)
    rollouts = await cluster.rollouts(namespace, args.selector)
    if not rollouts:
        where = "any namespace" if namespace is None else f'namespace "{namespace}"'
        output.warn(f"No rollouts found in {where}.")
        return ExitCode.OK
    rollouts.sort(key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"]))
    output.say(render.list_table(rollouts, _now(), namespaces=namespace is None))
    return ExitCode.OK


async def history(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`history NAME [--revision N]`."""
    rollout = await _rollout(cluster, _namespace(args, cluster), args.name)
    status_ = rollout.get("status") or {}
    if args.revision is None:
        output.say(render.history_text(args.name, status_))
        return ExitCode.OK
    try:
        entry = edits.find_revision(status_, args.revision)
    except edits.EditError as error:
        output.warn(f"error: {error}")
        return ExitCode.FAILED
    output.say(render.revision_text(args.name, entry))
    return ExitCode.OK


# --- writes -----------------------------------------------------------------------------


async def _edit_containers(
    cluster: Cluster,
    namespace: str,
    name: str,
    compute: Callable[[dict[str, Any], dict[str, Any] | None], list[dict[str, Any]]],
) -> bool:
    """Read, compute spec.containers, write conditionally; retry on a concurrent edit.

    Returns False when the spec already asked for exactly that (nothing written).
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        rollout = await _rollout(cluster, namespace, name)
        containers = compute(rollout, await _workload(cluster, rollout))
        if containers == list((rollout.get("spec") or {}).get("containers") or []):
            return False
        version = rollout["metadata"]["resourceVersion"]
        try:
            await cluster.patch_rollout(
                namespace, name, edits.containers_patch(containers, version)
            )
            return True
        except ConflictError:
            if attempt == WRITE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def set_image(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`set image NAME c=image|c=:tag ...`: write spec.containers."""
    try:
        changes = edits.parse_image_changes(args.changes)
    except ValueError as error:
        output.warn(f"error: {error}")
        return ExitCode.USAGE

    def compute(rollout: dict[str, Any], workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        known = edits.template_images(workload) if workload is not None else None
        return edits.set_images(rollout.get("spec") or {}, changes, known)

    try:
        written = await _edit_containers(cluster, _namespace(args, cluster), args.name, compute)
    except edits.EditError as error:
        output.warn(f"error: {error}")
        return ExitCode.FAILED
    output.say(f"{render.RESOURCE}/{args.name} {'image updated' if written else 'unchanged'}")
    return ExitCode.OK


async def restart(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`restart NAME`: a new spec.restartedAt."""
    namespace = _namespace(args, cluster)
    rollout = await _rollout(cluster, namespace, args.name)
    current = (rollout.get("spec") or {}).get("restartedAt")
    value = edits.restart_value(_now(), current)
    await cluster.patch_rollout(namespace, args.name, edits.restart_patch(value))
    output.say(f"{render.RESOURCE}/{args.name} restarted")
    return ExitCode.OK


async def undo(args: argparse.Namespace, cluster: Cluster, output: Output) -> ExitCode:
    """`undo NAME [--to-revision N]`: a recorded revision's images into spec.containers."""
    chosen: dict[str, Any] = {}

    def compute(rollout: dict[str, Any], workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        status_ = rollout.get("status") or {}
        entry = edits.undo_target(status_, args.to_revision)
        chosen["entry"] = entry
        live = edits.template_images(workload) if workload is not None else {}
        current = live or edits.status_images(status_)
        return edits.undo_containers(rollout.get("spec") or {}, current, entry)

    try:
        written = await _edit_containers(cluster, _namespace(args, cluster), args.name, compute)
    except edits.EditError as error:
        output.warn(f"error: {error}")
        return ExitCode.FAILED
    entry = chosen["entry"]
    images = render.images_text(edits.status_images(entry))
    revision = entry.get("revision")
    if not written:
        output.say(
            f"{render.RESOURCE}/{args.name} skipped rollback "
            f"(the spec already asks for revision {revision}'s images)"
        )
        return ExitCode.OK
    output.say(f"{render.RESOURCE}/{args.name} rolled back to revision {revision} ({images})")
    output.warn(
        "note: only the Rollout's spec changed; if it comes from Git (Argo CD, Flux), commit "
        "the same images there or the next sync reverts this undo."
    )
    return ExitCode.OK


COMMANDS: Final = {
    "status": status,
    "get": get,
    "list": list_,
    "set": set_image,
    "restart": restart,
    "history": history,
    "undo": undo,
}
