"""The operator's memory of the cluster: Rollouts, and only the objects they reference.

Informers deliver every Deployment and every ConfigMap's metadata in the cluster; keeping
all of them would cost memory proportional to the cluster, so unreferenced objects are
dropped on arrival and a referenced one missing here is fetched once by the controller.

Versions decide what is news: a copy whose resourceVersion is not newer than the one held
is dropped (so the watch echo of our own write, which we already stored from the write's
response, triggers nothing), and a list's sweep turns objects that vanished while no watch
was open into deletions.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .conflicts import image_managers
from .references import Reference, discover, is_ignored

#: (namespace, name) of a Rollout.
RolloutKey = tuple[str, str]
#: (namespace, kind, name) of a workload, ConfigMap or Secret.
ObjectKey = tuple[str, str, str]


def version_of(obj: Mapping[str, Any] | None) -> str:
    """An object's resourceVersion ("" when unknown)."""
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def newer(new: str, old: str) -> bool:
    """Whether version `new` is after `old`.

    resourceVersions are etcd revisions in practice (and comparable since Kubernetes 1.34,
    KEP-5504); when either is not a number, trust the newcomer.
    """
    if new.isdigit() and old.isdigit():
        return int(new) > int(old)
    return new != old or not old


@dataclass(frozen=True)
class ConfigState:
    """A referenced ConfigMap/Secret as last seen by its metadata watch or a GET.

    `version` None: known absent. `hash` is the content hash at `hashed_version`; when the
    two versions differ the content must be fetched again before it is judged.
    """

    version: str | None
    ignored: bool = False
    hash: str | None = None
    hashed_version: str | None = None
    #: monotonic time of the last change seen after the first sighting (for debouncing).
    changed_at: float | None = None

    @property
    def current_hash(self) -> str | None:
        """The content hash, when it is known for the current version."""
        if self.version is not None and self.hashed_version == self.version:
            return self.hash
        return None


def target_key(rollout: Mapping[str, Any]) -> ObjectKey | None:
    """The workload a Rollout names, read leniently (a bad spec still has a key)."""
    ref = (rollout.get("spec") or {}).get("targetRef") or {}
    if not ref.get("kind") or not ref.get("name"):
        return None
    return (rollout["metadata"]["namespace"], str(ref["kind"]), str(ref["name"]))


def config_keys(rollout: Mapping[str, Any]) -> set[ObjectKey]:
    """The ConfigMaps and Secrets a Rollout names in spec.restartOnChangeOf."""
    namespace = rollout["metadata"]["namespace"]
    refs = (rollout.get("spec") or {}).get("restartOnChangeOf") or {}
    keys = {(namespace, "ConfigMap", str(name)) for name in refs.get("configMaps") or []}
    return keys | {(namespace, "Secret", str(name)) for name in refs.get("secrets") or []}


def auto_kinds(rollout: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds spec.restartOnChangeOf.auto discovers (read leniently)."""
    auto = ((rollout.get("spec") or {}).get("restartOnChangeOf") or {}).get("auto")
    if not isinstance(auto, Mapping):
        return ()
    return tuple(
        kind for kind, field in (("ConfigMap", "configMaps"), ("Secret", "secrets"))
        if auto.get(field) is True
    )  # fmt: skip


def discovered(workload: Mapping[str, Any] | None) -> tuple[Reference, ...]:
    """The ConfigMaps/Secrets a (slim) workload's pod template references."""
    found: tuple[Reference, ...] = (workload or {}).get("references") or ()
    return found


def slim_workload(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What decisions read from a workload; the pod spec's other fields are not kept.

    The template's ConfigMap/Secret references are kept as `references.discover` found
    them, instead of the volumes and env they come from.
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    return {
        "references": discover(template),
        "metadata": {
            **{
                k: meta[k]
                for k in ("name", "namespace", "uid", "generation", "resourceVersion")
                if k in meta
            },
            # Who else sets container images: names the other writer in a field fight.
            "imageManagers": image_managers(meta.get("managedFields")),
        },
        "spec": {
            **{
                k: spec[k]
                for k in ("replicas", "paused", "updateStrategy", "selector")
                if k in spec
            },
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
        #: Referenced workloads; None: known absent.
        self.workloads: dict[ObjectKey, dict[str, Any] | None] = {}
        self.configs: dict[ObjectKey, ConfigState] = {}

    # Rollouts ------------------------------------------------------------------------
    def put_rollout(self, body: Mapping[str, Any]) -> set[RolloutKey]:
        """Remember a Rollout; return the Rollouts to reconcile (claims may have moved)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        held = self.rollouts.get(key)
        if held is not None and not newer(version_of(body), version_of(held)):
            return set()
        before = self._refs.get(key, set())
        self.rollouts[key] = dict(body)
        refs = self._wanted(body)
        self._reindex(key, before, refs)
        affected = {key}
        for obj in {o for o in before ^ refs if o[1] not in ("ConfigMap", "Secret")}:
            affected |= self._by_object.get(obj, set())
        return affected

    def _wanted(self, rollout: Mapping[str, Any]) -> set[ObjectKey]:
        """What a Rollout references: its target, named configs, and discovered ones."""
        target = target_key(rollout)
        refs = config_keys(rollout) | ({target} if target else set())
        kinds = auto_kinds(rollout)
        if kinds and target is not None:
            namespace = target[0]
            refs |= {
                (namespace, ref.kind, ref.name)
                for ref in discovered(self.workloads.get(target))
                if ref.kind in kinds
            }
        return refs

    def config_refs(self, key: RolloutKey) -> list[ObjectKey]:
        """The ConfigMaps/Secrets a Rollout references now (named and discovered), sorted."""
        return sorted(k for k in self._refs.get(key, ()) if k[1] in ("ConfigMap", "Secret"))

    def delete_rollout(self, namespace: str, name: str) -> set[RolloutKey]:
        """Forget a Rollout; return the Rollouts that shared its workload (one may own it now)."""
        key = (namespace, name)
        if self.rollouts.pop(key, None) is None:
            return set()
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
        held = self.workloads.get(key)
        if body is None:
            if key in self.workloads and held is None:
                return False
            self.workloads[key] = None
            return True
        if held is not None and not newer(version_of(body), version_of(held)):
            return False
        slim = slim_workload(body)
        self.workloads[key] = slim
        if discovered(held) != slim["references"]:  # the template's references moved
            for owner in self._by_object.get(key, set()).copy():
                rollout = self.rollouts.get(owner)
                if rollout is not None and auto_kinds(rollout):
                    self._reindex(owner, self._refs.get(owner, set()), self._wanted(rollout))
        return True

    def put_config(self, key: ObjectKey, meta: Mapping[str, Any] | None) -> bool:
        """Record a referenced config's metadata (None: absent); True when its version moved.

        The first sighting is a baseline, not an edit to debounce: a change made while the
        operator was down is acted on at once.
        """
        if key not in self._by_object:
            return False
        before = self.configs.get(key)
        if meta is None:
            if before is not None and before.version is None:
                return False
            self.configs[key] = ConfigState(
                None, changed_at=time.monotonic() if before is not None else None
            )
            return True
        version = str(meta.get("resourceVersion") or "")
        if before is not None and before.version is not None and not newer(version, before.version):
            return False
        ignored = is_ignored({"metadata": meta})
        if before is None:
            self.configs[key] = ConfigState(version, ignored)
        else:
            self.configs[key] = replace(
                before, version=version, ignored=ignored, changed_at=time.monotonic()
            )
        return True

    def put_config_hash(
        self, key: ObjectKey, version: str | None, digest: str | None, ignored: bool = False
    ) -> None:
        """Record the content hash fetched for `version` (None: the GET found nothing)."""
        if key not in self._by_object:
            return
        before = self.configs.get(key)
        if version is None:
            if before is None:
                self.configs[key] = ConfigState(None)
            return
        if before is None or before.version is None or not newer(before.version, version):
            changed = before.changed_at if before is not None else None
            self.configs[key] = ConfigState(version, ignored, digest, version, changed)
        elif before.version == version:
            self.configs[key] = replace(before, hash=digest, hashed_version=version)

    # Sweeps after a list --------------------------------------------------------------
    def sweep(
        self, kind: str, namespace: str | None, present: set[tuple[str, str]], version: str
    ) -> set[RolloutKey]:
        """After a complete list of `kind`: everything not in it is gone. Affected Rollouts.

        Objects fetched after the list was taken (a newer version) are left alone.
        """

        def in_scope(ns: str) -> bool:
            return namespace is None or ns == namespace

        affected: set[RolloutKey] = set()
        if kind == "Rollout":
            gone = [
                k
                for k, body in self.rollouts.items()
                if in_scope(k[0]) and k not in present and not newer(version_of(body), version)
            ]
            for ns, name in gone:
                affected |= self.delete_rollout(ns, name)
            return affected
        for key in list(self._by_object):
            ns, obj_kind, name = key
            if obj_kind != kind or not in_scope(ns) or (ns, name) in present:
                continue
            if kind in ("ConfigMap", "Secret"):
                state = self.configs.get(key)
                if state is None or state.version is None or newer(state.version, version):
                    continue
                self.put_config(key, None)
            else:
                held = self.workloads.get(key)
                if held is None or newer(version_of(held), version):
                    continue
                self.put_workload(key, None)
            affected |= self._by_object.get(key, set())
        return affected
