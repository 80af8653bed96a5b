"""Every status field the operator writes is declared in the CRD, or the apiserver drops it.

Structural schemas prune unknown fields silently: a status key missing from
crds/rollout-operator.dev_rollouts.yaml would simply never be stored.
"""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from test_decide import (
    DEADLINE,
    NOW,
    V2,
    deployment,
    observe,
    reverted_deployment,
    rollout,
    succeed,
)

from rollout_operator.conflicts import ConflictSettings
from rollout_operator.decide import with_cause

CRD = Path(__file__).resolve().parents[2] / "crds" / "rollout-operator.dev_rollouts.yaml"


def status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


def undeclared(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is None:
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                yield f"{path} (object without properties)"
            return
        for key, item in value.items():
            if key not in properties:
                yield f"{path}.{key}"
            else:
                yield from undeclared(item, properties[key], f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from undeclared(item, schema.get("items") or {}, f"{path}[{index}]")


def statuses() -> Iterator[dict[str, Any]]:
    spec = {**V2, "rollbackOnFailure": True}
    good = succeed({"rollbackOnFailure": True})
    yield good
    started = observe(rollout(spec, status=good, generation=2), deployment())
    yield started.status
    failing = deployment("app:v2", done=False, generation=6, conditions=DEADLINE)
    rolled_back = observe(rollout(spec, status=started.status, generation=2), failing)
    yield with_cause(rolled_back, "pod x: ImagePullBackOff").status
    held = succeed(V2)
    settings = ConflictSettings(threshold=1)
    yield observe(
        rollout(V2, status=held), reverted_deployment(), conflict_settings=settings
    ).status
    yield observe(
        rollout(V2, status=held), reverted_deployment(), now=NOW + timedelta(minutes=1)
    ).status


def test_every_written_status_field_is_in_the_crd():
    schema = status_schema()
    missing = sorted({p for status in statuses() for p in undeclared(status, schema, "status")})
    assert missing == []
