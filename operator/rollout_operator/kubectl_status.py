"""`kubectl rollout status`, judged the way kubectl judges it.

A faithful port of kubectl's ``polymorphichelpers/rollout_status.go`` (v1.34): the same
checks in the same order and the same message wording, so people who know the kubectl
output read our status without translation. kubectl's trailing newlines are dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Verdict(enum.Enum):
    """kubectl's three outcomes: keep waiting, done, or give up with an error."""

    PROGRESSING = "Progressing"
    DONE = "Done"
    FAILED = "Failed"


@dataclass(frozen=True)
class Judgement:
    """What `kubectl rollout status` would conclude, and the line it would print."""

    verdict: Verdict
    message: str
    #: For FAILED: a CamelCase cause for condition reasons.
    reason: str = ""


def _int(obj: Mapping[str, Any], *path: str) -> int:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return int(value or 0)


def _optional_int(obj: Mapping[str, Any], *path: str) -> int | None:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return None if value is None else int(value)


def _waiting(message: str) -> Judgement:
    return Judgement(Verdict.PROGRESSING, message)


def deployment_status(obj: Mapping[str, Any]) -> Judgement:
    """DeploymentStatusViewer.Status with revision 0."""
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    if _int(obj, "metadata", "generation") > _int(status, "observedGeneration"):
        return _waiting("Waiting for deployment spec update to be observed...")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Judgement(
                Verdict.FAILED,
                f'deployment "{name}" exceeded its progress deadline',
                "ProgressDeadlineExceeded",
            )
    replicas = _optional_int(obj, "spec", "replicas")
    updated = _int(status, "updatedReplicas")
    if replicas is not None and updated < replicas:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {replicas} new replicas have been updated..."
        )
    current = _int(status, "replicas")
    if current > updated:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{current - updated} old replicas are pending termination..."
        )
    available = _int(status, "availableReplicas")
    if available < updated:
        return _waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{available} of {updated} updated replicas are available..."
        )
    return Judgement(Verdict.DONE, f'deployment "{name}" successfully rolled out')


def daemonset_status(obj: Mapping[str, Any]) -> Judgement:
    """DaemonSetStatusViewer.Status."""
    name = obj["metadata"]["name"]
    strategy = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy != "RollingUpdate":
        return Judgement(
            Verdict.FAILED,
            "rollout status is only available for RollingUpdate strategy type",
            "UnsupportedUpdateStrategy",
        )
    status = obj.get("status") or {}
    if _int(obj, "metadata", "generation") > _int(status, "observedGeneration"):
        return _waiting("Waiting for daemon set spec update to be observed...")
    desired = _int(status, "desiredNumberScheduled")
    updated = _int(status, "updatedNumberScheduled")
    if updated < desired:
        return _waiting(
            f'Waiting for daemon set "{name}" rollout to finish: '
            f"{updated} out of {desired} new pods have been updated..."
        )
    available = _int(status, "numberAvailable")
    if available < desired:
        return _waiting(
            f'Waiting for daemon set "{name}" rollout to finish: '
            f"{available} of {desired} updated pods are available..."
        )
    return Judgement(Verdict.DONE, f'daemon set "{name}" successfully rolled out')


def statefulset_status(obj: Mapping[str, Any]) -> Judgement:
    """StatefulSetStatusViewer.Status."""
    spec = obj.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return Judgement(
            Verdict.FAILED,
            "rollout status is only available for RollingUpdate strategy type",
            "UnsupportedUpdateStrategy",
        )
    status = obj.get("status") or {}
    observed = _int(status, "observedGeneration")
    if observed == 0 or _int(obj, "metadata", "generation") > observed:
        return _waiting("Waiting for statefulset spec update to be observed...")
    replicas = _optional_int(obj, "spec", "replicas")
    ready = _int(status, "readyReplicas")
    if replicas is not None and ready < replicas:
        return _waiting(f"Waiting for {replicas - ready} pods to be ready...")
    updated = _int(status, "updatedReplicas")
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        if replicas is not None and partition is not None and updated < replicas - partition:
            return _waiting(
                "Waiting for partitioned roll out to finish: "
                f"{updated} out of {replicas - partition} new pods have been updated..."
            )
        return Judgement(
            Verdict.DONE, f"partitioned roll out complete: {updated} new pods have been updated..."
        )
    update_revision = status.get("updateRevision", "")
    if update_revision != status.get("currentRevision", ""):
        return _waiting(
            "waiting for statefulset rolling update to complete "
            f"{updated} pods at revision {update_revision}..."
        )
    return Judgement(
        Verdict.DONE,
        f"statefulset rolling update complete {_int(status, 'currentReplicas')} pods "
        f"at revision {status.get('currentRevision', '')}...",
    )


_VIEWERS = {
    "Deployment": deployment_status,
    "DaemonSet": daemonset_status,
    "StatefulSet": statefulset_status,
}


def rollout_status(kind: str, obj: Mapping[str, Any]) -> Judgement:
    """Judge `obj` of `kind` as `kubectl rollout status` would."""
    return _VIEWERS[kind](obj)
