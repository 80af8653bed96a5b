"""The plugin's only door to the cluster: reads, merge patches and watches of Rollouts and
their workloads, over the project's own async API client. Nothing else in the plugin
imports a client, so the pure core stays testable without a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from .. import __version__, paths
from ..api import Api, ApiError
from ..kubeconfig import ConfigError, load_connection
from ..paths import InvalidNameError

#: Consecutive failed watch attempts before the plugin gives up on the connection.
WATCH_ATTEMPTS: Final = 5
WATCH_RETRY_SECONDS: Final = 1.0

__all__ = [
    "Cluster",
    "ClusterError",
    "ConflictError",
    "InvalidNameError",
    "connect",
]


class ClusterError(Exception):
    """The cluster could not answer: kubeconfig, connection, permission or API error."""


class ConflictError(ClusterError):
    """The Rollout changed between our read and our write (HTTP 409)."""


def _error(error: ApiError, what: str) -> ClusterError:
    if error.status == 409:
        return ConflictError(f"{what}: {error.message}")
    if error.status == 403:
        return ClusterError(f"{what}: forbidden: {error.message}")
    if error.status == 0:
        return ClusterError(f"{what}: cannot reach the API server: {error.message}")
    return ClusterError(f"{what}: {error.status} {error.reason}: {error.message}")


class Cluster:
    """Rollouts and workloads of one cluster, as plain dicts."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        #: The context's namespace ("default" when it names none): kubectl's default.
        self.namespace = namespace

    async def rollout(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One Rollout, or None when it does not exist."""
        try:
            return await self.api.get(paths.rollout(namespace, name))
        except ApiError as error:
            raise _error(error, f'reading rollout "{name}"') from None

    async def rollouts(
        self, namespace: str | None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Rollouts in `namespace` (None: all namespaces) matching `selector`."""
        try:
            items, _ = await self.api.list(paths.rollouts(namespace), label_selector=selector)
        except ApiError as error:
            raise _error(error, "listing rollouts") from None
        return items

    async def workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A Deployment, StatefulSet or DaemonSet, or None when it does not exist."""
        try:
            return await self.api.get(paths.workload(kind, namespace, name))
        except ApiError as error:
            raise _error(error, f"reading {kind} {name}") from None

    async def patch_rollout(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch of a Rollout (spec only; the status belongs to the operator)."""
        try:
            return await self.api.patch(
                paths.rollout(namespace, name),
                patch,
                patch_type="merge",
                field_manager="kubectl-rollouts",
            )
        except ApiError as error:
            raise _error(error, f'writing rollout "{name}"') from None

    def follow_rollout(
        self, namespace: str, name: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event type, Rollout) from now on: the current object first, then every change."""
        return self._follow(paths.rollouts(namespace), f"metadata.name={name}", f'rollout "{name}"')

    def follow_workload(
        self, kind: str, namespace: str, name: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event type, workload) from now on: the current object first, then every change."""
        return self._follow(
            paths.workloads(kind, namespace), f"metadata.name={name}", f"{kind} {name}"
        )

    async def _follow(
        self, path: str, field_selector: str, what: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """List, then watch from the list's version; list again when the version expired."""
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    items, version = await self.api.list(path, field_selector=field_selector)
                    for item in items:
                        yield "ADDED", item
                async for event in self.api.watch(
                    path, resource_version=version, field_selector=field_selector
                ):
                    failures = 0
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        yield str(event["type"]), obj
            except ApiError as error:
                if error.status == 410:  # expired: start over from a fresh list
                    version = None
                    continue
                failures += 1
                if failures >= WATCH_ATTEMPTS or error.status not in (0, 429, 500, 502, 503, 504):
                    raise _error(error, f"watching {what}") from None
                await asyncio.sleep(WATCH_RETRY_SECONDS)


@asynccontextmanager
async def connect(kubeconfig: str | None, context: str | None) -> AsyncIterator[Cluster]:
    """A Cluster for the kubeconfig and context kubectl would use with the same flags."""
    try:
        connection = load_connection(kubeconfig, context)
    except ConfigError as error:
        raise ClusterError(str(error)) from None
    async with Api(connection, user_agent=f"kubectl-rollouts/{__version__}") as api:
        yield Cluster(api, connection.namespace or "default")
