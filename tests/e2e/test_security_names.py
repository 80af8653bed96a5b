"""Attack: path traversal through every name in a Rollout spec (issue 8, finding 1).

A user who may edit only namespace A tries to make the operator write to, or read from,
namespace B by putting `../`, encoded slashes, extra path segments, look-alike characters
or over-long values into the names the operator turns into API paths. Every such Rollout
must be rejected at apply, and nothing may be written anywhere: the barrier is a valid
Rollout by the same user that the operator rolls out, after which namespace B and the
operator's log are checked for any trace of the attack.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from .kube import Kubectl, make_deployment, wait_for
from .operator_process import OperatorProcess
from .rollouts import make_rollout, wait_phase

#: Distinctive, so a trace of it in the operator's log or in namespace B is ours.
VICTIM = f"victim-{secrets.token_hex(3)}"


def _attacks(victim_ns: str) -> dict[str, str]:
    """Attack id -> name, aimed at `victim_ns`'s objects called VICTIM."""
    return {
        "dotdot": f"../../{victim_ns}/deployments/{VICTIM}",
        "dotdot-short": f"../{VICTIM}",
        "encoded-slash": f"..%2F..%2F{victim_ns}%2Fdeployments%2F{VICTIM}",
        "encoded-lower": f"..%2f{VICTIM}",
        "double-encoded": f"..%252f{VICTIM}",
        "trailing-segment": f"{VICTIM}/x",
        "trailing-slash": f"{VICTIM}/",
        "leading-slash": f"/{VICTIM}",
        "backslash": f"..\\{VICTIM}",
        "query": f"{VICTIM}?dryRun=All",
        "newline": f"{VICTIM}\n",
        "cyrillic-c": VICTIM.replace("c", "\u0441", 1),  # looks like the victim's name
        "fullwidth": "\uff56" + VICTIM[1:],
        "zero-width": VICTIM + "\u200b",
        "uppercase": VICTIM.upper(),
        "dot": ".",
        "dotdot-only": "..",
        "254-chars": (VICTIM + "-" + "a" * 254)[:254],
        "10000-chars": (VICTIM + "-" + "a" * 10_000)[:10_000],
    }


#: field -> (manifest with that field set to `name`, its path in the apiserver's error)
FIELDS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "targetRef.name": (lambda name: make_rollout("attack", name), "spec.targetRef.name"),
    "containers[].name": (
        lambda name: make_rollout("attack", "web", containers=[{"name": name, "tag": "v2"}]),
        "spec.containers[0].name",
    ),
    "configMaps[]": (
        lambda name: make_rollout("attack", "web", config_maps=[name]),
        "spec.restartOnChangeOf.configMaps[0]",
    ),
    "secrets[]": (
        lambda name: make_rollout("attack", "web", secrets=[name]),
        "spec.restartOnChangeOf.secrets[0]",
    ),
}


@pytest.fixture
def victim_namespace(core_api: client.CoreV1Api, kubectl: Kubectl) -> Iterator[str]:
    """Namespace B with a Deployment, ConfigMap and Secret named VICTIM."""
    name = f"e2e-victim-{secrets.token_hex(3)}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        kubectl.apply(make_deployment(VICTIM, replicas=1), name)
        kubectl.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": VICTIM},
             "data": {"k": "v"}},
            name,
        )  # fmt: skip
        kubectl.apply(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": VICTIM},
             "data": {"k": base64.b64encode(b"top secret").decode()}},
            name,
        )  # fmt: skip
        yield name
    finally:
        core_api.delete_namespace(name, propagation_policy="Background")


def _snapshot(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """kind/name -> resourceVersion of everything the operator could write in `namespace`."""
    result = kubectl(
        "get", "deployments,replicasets,configmaps,secrets,rollouts",
        "-n", namespace, "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {
        f"{item['kind']}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for item in json.loads(result.stdout)["items"]
    }


def _operator_events(kubectl: Kubectl, namespace: str) -> list[str]:
    """Events the operator posted in `namespace` (it reports as component rollout-operator)."""
    result = kubectl("get", "events", "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    return [
        f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e.get('reason')}"
        for e in json.loads(result.stdout)["items"]
        if "rollout-operator"
        in ((e.get("source") or {}).get("component"), e.get("reportingComponent"))
        or e["involvedObject"]["kind"] == "Rollout"
    ]


def test_path_traversal_in_every_name_field_is_rejected_and_nothing_is_written(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, victim_namespace: str,
    custom_api: client.CustomObjectsApi, apps_api: client.AppsV1Api,
):  # fmt: skip
    # The attacker: namespace `edit` in A (which includes Rollouts), nothing in B.
    attacker = f"mallory-{secrets.token_hex(3)}"
    kubectl("create", "rolebinding", "mallory-edit", "--clusterrole=edit",
            f"--user={attacker}", "-n", namespace, check=True)  # fmt: skip
    wait_for(
        lambda: kubectl("auth", "can-i", "create", "rollouts.rollout-operator.dev",
                        "-n", namespace, "--as", attacker).stdout.strip() == "yes",
        what="the attacker's edit role to be in force",
    )  # fmt: skip
    assert (
        kubectl("auth", "can-i", "get", "deployments", "-n", victim_namespace, "--as", attacker)
        .stdout.strip() == "no"
    )  # fmt: skip
    kubectl.apply(make_deployment("web", replicas=1), namespace)
    # Settled first (controllers done writing), so any later change would be the operator's.
    wait_for(
        lambda: (apps_api.read_namespaced_deployment_status(VICTIM, victim_namespace).status
                 .available_replicas == 1),
        what="the victim Deployment available",
    )  # fmt: skip
    before = _snapshot(kubectl, victim_namespace)

    accepted: list[str] = []
    unclear: list[str] = []
    attacks = _attacks(victim_namespace)
    for field, (manifest, path) in FIELDS.items():
        for attack, name in attacks.items():
            result = kubectl(
                "--as", attacker, "apply", "-n", namespace, "-f", "-",
                input=json.dumps(manifest(name)),
            )  # fmt: skip
            if result.returncode == 0:
                accepted.append(f"{field}={attack}")
                kubectl("delete", "rollout", "attack", "-n", namespace)
            elif path not in result.stderr:
                unclear.append(f"{field}={attack}: {result.stderr[:300]}")
    assert accepted == [], "accepted at apply"
    assert unclear == [], "rejected without naming the field"

    # Barrier: a valid Rollout by the same user is rolled out by the operator...
    kubectl(
        "--as", attacker, "apply", "-n", namespace, "-f", "-",
        input=json.dumps(make_rollout("web", "web", containers=[{"name": "app", "tag": "v2"}])),
        check=True,
    )  # fmt: skip
    wait_phase(custom_api, namespace, "web", "Succeeded")
    assert (
        apps_api.read_namespaced_deployment("web", namespace)
        .spec.template.spec.containers[0]
        .image.endswith(":v2")
    )
    # ...and nothing else happened: no other Rollout stored, namespace B untouched (no
    # write, no Event), the victim never named in the operator's log.
    rollouts = kubectl("get", "rollouts", "-n", namespace, "-o", "name", check=True).stdout
    assert rollouts.split() == ["rollout.rollout-operator.dev/web"]
    assert _snapshot(kubectl, victim_namespace) == before
    assert _operator_events(kubectl, victim_namespace) == []
    victim = apps_api.read_namespaced_deployment(VICTIM, victim_namespace)
    assert victim.metadata.generation == 1
    assert victim.spec.template.spec.containers[0].image.endswith(":v1")
    assert VICTIM not in operator.log()
    assert VICTIM.replace("c", "\u0441", 1) not in operator.log()


# --- The second line: the operator's own check, for objects the schema did not stop ---

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "rollout-operator.dev_rollouts.yaml"


def _loosened(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD without pattern/maxLength on the name fields (as an older schema had)."""
    crd = copy.deepcopy(crd)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    lists = props["restartOnChangeOf"]["properties"]
    for schema in (
        props["targetRef"]["properties"]["name"],
        props["containers"]["items"]["properties"]["name"],
        lists["configMaps"]["items"],
        lists["secrets"]["items"],
    ):
        schema.pop("pattern")
        schema.pop("maxLength")
    return crd


def _apply_crd(kubectl: Kubectl, crd: dict[str, Any]) -> None:
    kubectl("apply", "--server-side", "--force-conflicts",
            "--field-manager=rollout-operator-e2e", "-f", "-",
            input=json.dumps(crd), check=True)  # fmt: skip


@pytest.fixture
def loosened_crd(kubectl: Kubectl, crds_installed: list[str], namespace: str) -> Iterator[None]:
    """The Rollout CRD with its name patterns removed for one test, then restored."""
    shipped = yaml.safe_load(CRD_FILE.read_text())
    probe = json.dumps(make_rollout("probe", "a/../b"))

    def dry_run_ok() -> bool:
        result = kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=probe)
        return result.returncode == 0

    _apply_crd(kubectl, _loosened(shipped))
    try:
        wait_for(dry_run_ok, what="the loosened schema in force")
        yield
    finally:
        _apply_crd(kubectl, shipped)
        wait_for(lambda: not dry_run_ok(), what="the shipped schema back in force")


def test_operator_refuses_what_an_older_schema_let_through(
    operator: OperatorProcess, loosened_crd: None, kubectl: Kubectl, namespace: str,
    victim_namespace: str, custom_api: client.CustomObjectsApi, apps_api: client.AppsV1Api,
):  # fmt: skip
    kubectl.apply(make_deployment("web", replicas=1), namespace)
    wait_for(
        lambda: (apps_api.read_namespaced_deployment_status(VICTIM, victim_namespace).status
                 .available_replicas == 1),
        what="the victim Deployment available",
    )  # fmt: skip
    before = _snapshot(kubectl, victim_namespace)
    traversal = f"../../{victim_namespace}"
    stored = {
        "target": (
            make_rollout("target", f"{traversal}/deployments/{VICTIM}",
                         containers=[{"name": "app", "tag": "evil"}]),
            "spec.targetRef.name",
        ),
        "secret": (
            make_rollout("secret", "web", secrets=[f"{traversal}/secrets/{VICTIM}"]),
            "spec.restartOnChangeOf.secrets[0]",
        ),
        "configmap": (
            make_rollout("configmap", "web", config_maps=[f"..%2F{VICTIM}"]),
            "spec.restartOnChangeOf.configMaps[0]",
        ),
        "container": (
            make_rollout("container", "web", containers=[{"name": "app/x", "tag": "evil"}]),
            "spec.containers[0].name",
        ),
    }  # fmt: skip
    for manifest, _ in stored.values():
        kubectl.apply(manifest, namespace)
    # Barrier: the operator judged each of them, and says which field is wrong.
    for name, (_, field) in stored.items():
        rollout = wait_phase(custom_api, namespace, name, "Blocked", reason="InvalidSpec")
        message = rollout["status"]["message"]
        assert message.startswith(f"{field} "), message
        assert "is not a valid" in message
    assert _snapshot(kubectl, victim_namespace) == before
    assert _operator_events(kubectl, victim_namespace) == []
    web = apps_api.read_namespaced_deployment("web", namespace)
    assert web.metadata.generation == 1
    assert not any(
        "hash" in str(c) for c in (custom_api.get_namespaced_custom_object(
            "rollout-operator.dev", "v1alpha1", namespace, "rollouts", "secret")["status"]
            .get("configs") or [])
    )  # fmt: skip
