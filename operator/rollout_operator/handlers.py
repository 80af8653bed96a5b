"""kopf registration: watches that feed the controller, and nothing else.

Only `on.event` handlers are used. They keep no per-object state, so kopf never writes
its bookkeeping annotations or finalizers on users' workloads, ConfigMaps and Secrets,
nor on Rollouts; progress and retries live in the controller's work queue instead.
"""

from __future__ import annotations

from typing import Any

import kopf

from .controller import Controller
from .names import GROUP, PLURAL, VERSION, WORKLOAD_PLURALS


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base is for change handlers, which we do not use; skip building it.

    Otherwise kopf deep-copies every watched body on every event (about a third of its
    per-event CPU in profiles) only to compare copies nobody reads. Nothing is stored.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    """A registry whose handlers forward every relevant watch event to `controller`."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # our Events are deliberate, not log mirrors
        # No CRD/namespace discovery watches: they need cluster-wide RBAC we do not ask for.
        # The Rollout CRD must exist before the operator starts (the manifests see to it).
        settings.scanning.disabled = True
        # List in pages: one unpaged list of 5,000 ConfigMaps is ~100 MB of Python objects
        # at once, and the process keeps that memory long after.
        settings.watching.chunk_size = 500
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.watching.server_timeout = 600
        await controller.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await controller.stop()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        return kopf.login_via_client(**kwargs)

    @kopf.on.probe(id="queue_depth", registry=registry)
    def queue_depth(**_: Any) -> int:
        return len(controller.queue)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def rollout_event(event: kopf.RawEvent, **_: Any) -> None:
        controller.on_rollout(event.get("type"), event["object"])

    async def workload_event(event: kopf.RawEvent, param: Any = None, **_: Any) -> None:
        controller.on_workload(param, event.get("type"), event["object"])

    async def config_event(event: kopf.RawEvent, param: Any = None, **_: Any) -> None:
        controller.on_config(param, event.get("type"), event["object"])

    for kind, plural in WORKLOAD_PLURALS.items():
        kopf.on.event("apps", "v1", plural, param=kind, registry=registry)(workload_event)

    config_kinds = {"ConfigMap": "configmaps"}
    if controller.settings.secrets_enabled:
        config_kinds["Secret"] = "secrets"
    for kind, plural in config_kinds.items():
        kopf.on.event("", "v1", plural, param=kind, registry=registry)(config_event)

    return registry
