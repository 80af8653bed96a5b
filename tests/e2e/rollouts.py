"""Rollout manifests and status reads for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from .kube import Observed, wait_for

GROUP, VERSION, PLURAL = "rollout-operator.dev", "v1alpha1", "rollouts"


def make_rollout(
    name: str,
    target: str,
    kind: str = "Deployment",
    *,
    containers: Sequence[Mapping[str, str]] = (),
    config_maps: Sequence[str] = (),
    secrets: Sequence[str] = (),
    restarted_at: str | None = None,
    progress_deadline_seconds: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"kind": kind, "name": target}}
    if containers:
        spec["containers"] = [dict(c) for c in containers]
    if config_maps or secrets:
        spec["restartOnChangeOf"] = {"configMaps": list(config_maps), "secrets": list(secrets)}
    if restarted_at:
        spec["restartedAt"] = restarted_at
    if progress_deadline_seconds:
        spec["progressDeadlineSeconds"] = progress_deadline_seconds
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": spec,
    }


def get_rollout(api: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return body


def condition(rollout: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for cond in (rollout.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


def wait_phase(
    api: client.CustomObjectsApi,
    namespace: str,
    name: str,
    phase: str,
    *,
    reason: str | None = None,
    timeout: float = 90,
) -> dict[str, Any]:
    """Wait until the Rollout's status for its *current* generation has `phase` (and `reason`)."""

    def check() -> Observed:
        body = get_rollout(api, namespace, name)
        status = body.get("status") or {}
        ok = (
            status.get("observedGeneration") == body["metadata"]["generation"]
            and status.get("phase") == phase
            and (reason is None or status.get("reason") == reason)
        )
        return Observed(
            ok, body if ok else {k: status.get(k) for k in ("phase", "reason", "message")}
        )

    result: Observed = wait_for(
        check, timeout=timeout, what=f"Rollout {name} {phase} {reason or ''}"
    )
    value: dict[str, Any] = result.value
    return value


def events_for(core_api: client.CoreV1Api, namespace: str, name: str) -> list[tuple[str, str]]:
    """(reason, message) of the Events recorded on Rollout `name`."""
    events = core_api.list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=Rollout,involvedObject.name={name}"
    ).items
    return [
        (e.reason, e.message) for e in sorted(events, key=lambda e: e.metadata.creation_timestamp)
    ]


def wait_event(
    core_api: client.CoreV1Api, namespace: str, name: str, reason: str
) -> list[tuple[str, str]]:
    """Wait for an Event with `reason` on Rollout `name` (Events follow the status write)."""

    def check() -> Observed:
        events = events_for(core_api, namespace, name)
        return Observed(reason in [r for r, _ in events], events)

    result: Observed = wait_for(check, timeout=30, what=f"a {reason} Event on {name}")
    events: list[tuple[str, str]] = result.value
    return events
