"""The operator's memory of the cluster: Rollouts, and only the objects they reference.

Watches deliver every Deployment and ConfigMap in the cluster; keeping all of them would
cost memory proportional to the cluster, so unreferenced objects are dropped on arrival
and a referenced one missing here is fetched once by the controller.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .confighash import content_hash

#: (namespace, name) of a Rollout.
RolloutKey = tuple[str, str]
#: (namespace, kind, name) of a workload, ConfigMap or Secret.
ObjectKey = tuple[str, str, str]


@dataclass(frozen=True)
class ConfigEntry:
    """A referenced ConfigMap/Secret: its content hash (None: absent) and when it changed."""

    hash: str | None
    changed_at: float | None  # monotonic; None when first seen (nothing to debounce)


def _is_newer(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Drop stale copies: a watch event can arrive after our own write's response.

    resourceVersions are opaque by contract but etcd revisions in practice; compare them
    numerically when both are numbers, else trust the newcomer.
    """
    if old is None:
        return True
    new_rv = (new.get("metadata") or {}).get("resourceVersion", "")
    old_rv = (old.get("metadata") or {}).get("resourceVersion", "")
    if new_rv.isdigit() and old_rv.isdigit():
        return int(new_rv) >= int(old_rv)
    return True


def target_key(rollout: Mapping[str, Any]) -> ObjectKey | None:
    """The workload a Rollout names, read leniently (a bad spec still has a key)."""
    ref = (rollout.get("spec") or {}).get("targetRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        return None
    return (rollout["metadata"]["namespace"], ref["kind"], ref["name"])


def config_keys(rollout: Mapping[str, Any]) -> set[ObjectKey]:
    """The ConfigMaps and Secrets a Rollout restarts on."""
    namespace = rollout["metadata"]["namespace"]
    refs = (rollout.get("spec") or {}).get("restartOnChangeOf") or {}
    keys = {(namespace, "ConfigMap", name) for name in refs.get("configMaps") or []}
    return keys | {(namespace, "Secret", name) for name in refs.get("secrets") or []}


def slim_workload(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What decisions read from a workload; the pod spec's other fields are not kept."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    return {
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "generation", "resourceVersion")
            if k in meta
        },
        "spec": {
            **{k: spec[k] for k in ("replicas", "paused", "updateStrategy") if k in spec},
            "template": {
                "metadata": {
                    "annotations": dict((template.get("metadata") or {}).get("annotations") or {})
                },
                "spec": {
                    field: [
                        {"name": c.get("name"), "image": c.get("image")}
                        for c in pod.get(field) or []
                    ]
                    for field in ("initContainers", "containers")
                },
            },
        },
        "status": obj.get("status") or {},
    }


class Store:
    """Rollouts by key, plus indexes from referenced objects back to their Rollouts."""

    def __init__(self) -> None:
        self.rollouts: dict[RolloutKey, dict[str, Any]] = {}
        self._by_object: defaultdict[ObjectKey, set[RolloutKey]] = defaultdict(set)
        self._refs: dict[RolloutKey, set[ObjectKey]] = {}
        self.workloads: dict[ObjectKey, dict[str, Any] | None] = {}
        self.configs: dict[ObjectKey, ConfigEntry] = {}

    # Rollouts ------------------------------------------------------------------------
    def put_rollout(self, body: Mapping[str, Any]) -> set[RolloutKey]:
        """Remember a Rollout; return the Rollouts to reconcile (claims may have moved)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if not _is_newer(body, self.rollouts.get(key)):
            return set()
        before = self._refs.get(key, set())
        target = target_key(body)
        refs = config_keys(body) | ({target} if target else set())
        self.rollouts[key] = dict(body)
        self._reindex(key, before, refs)
        affected = {key}
        for obj in {o for o in before ^ refs if o[1] not in ("ConfigMap", "Secret")}:
            affected |= self._by_object.get(obj, set())
        return affected

    def delete_rollout(self, namespace: str, name: str) -> set[RolloutKey]:
        """Forget a Rollout; return the Rollouts that shared its workload (one may own it now)."""
        key = (namespace, name)
        self.rollouts.pop(key, None)
        before = self._refs.get(key, set())
        self._reindex(key, before, set())
        affected: set[RolloutKey] = set()
        for obj in before:
            affected |= self._by_object.get(obj, set())
        return affected

    def _reindex(self, key: RolloutKey, before: set[ObjectKey], after: set[ObjectKey]) -> None:
        for obj in before - after:
            owners = self._by_object[obj]
            owners.discard(key)
            if not owners:
                del self._by_object[obj]
                self.workloads.pop(obj, None)
                self.configs.pop(obj, None)
        for obj in after - before:
            self._by_object[obj].add(key)
        if after:
            self._refs[key] = after
        else:
            self._refs.pop(key, None)

    def claimed_by(self, key: RolloutKey) -> str | None:
        """The oldest Rollout on the same workload, when that is not `key`'s Rollout.

        Oldest by creationTimestamp, then name: a stable rule both Rollouts agree on, so
        the first keeps working and the later one is refused.
        """
        target = target_key(self.rollouts[key])
        if target is None:
            return None
        rivals = [self.rollouts[k] for k in self._by_object.get(target, ()) if k in self.rollouts]
        owner = min(
            rivals,
            key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]),
        )
        name: str = owner["metadata"]["name"]
        return None if name == key[1] else name

    # Referenced objects ----------------------------------------------------------------
    def referenced(self, obj: ObjectKey) -> set[RolloutKey]:
        """Rollouts that reference `obj` (as target or as config)."""
        return set(self._by_object.get(obj, ()))

    def put_workload(self, key: ObjectKey, body: Mapping[str, Any] | None) -> bool:
        """Cache a referenced workload (None: known absent); False if stale or unreferenced."""
        if key not in self._by_object:
            return False
        if body is not None:
            if not _is_newer(body, self.workloads.get(key)):
                return False
            self.workloads[key] = slim_workload(body)
        else:
            self.workloads[key] = None
        return True

    def put_config(self, key: ObjectKey, body: Mapping[str, Any] | None) -> bool:
        """Cache a referenced config's hash (None: absent); True when its content changed.

        A first sighting (listing at startup, or a fetch) is a baseline, not an edit to
        debounce: a change made while the operator was down is acted on at once.
        """
        if key not in self._by_object:
            return False
        digest = content_hash(body) if body is not None else None
        before = self.configs.get(key)
        if before is not None and before.hash == digest:
            return False
        changed_at = time.monotonic() if before is not None else None
        self.configs[key] = ConfigEntry(digest, changed_at)
        return True
