"""The image, and the operator running from it in a real pod, installed as users install it.

Each shipped install mode (manifests/, overlays/secrets, overlays/namespaced, overlays/ha)
is applied with one `kubectl apply -k` that changes only the image and the pods' placement
(the real node); `kubectl rollout status` must see it Ready (/readyz), and its pod hold the
Lease (leader election is on in every mode). The operator then
runs as the shipped ServiceAccount, uid 65532 without a passwd entry, read-only root, no
capabilities, and replays the pipeline this project replaces (examples/): set an image,
restart on a ConfigMap edit, report Succeeded; a `-broken` tag ends Failed. Workloads stay
on kwok's fake nodes. HA: the active pod is deleted mid-rollout and the standby takes over.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .incluster import (
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    REAL_NODE_KEY,
    REPO,
    TEST_LABEL,
    Install,
    apply_install,
    apply_objects,
    kget,
    operator_logs,
    operator_pods,
    podman,
    remove_install,
    restarts,
    wait_operator_ready,
)
from .kube import Kubectl, Observed, wait_for
from .operator_process import LOG_DIR

pytestmark = pytest.mark.usefixtures("local_operator_paused")

EXAMPLES = REPO / "examples"
RESTART_ANNOTATION = "rollout-operator.dev/restart"
SERVER_IMAGE = "okteto.dev/codingpot-pr12er-server"
# Pods in rollout-operator-system must pass Pod Security "restricted" (the namespaced mode
# manages workloads there).
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _version() -> str:
    version: str = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    return version


# -- the image on its own ----------------------------------------------------------------


def test_image_starts_as_65532_without_passwd_entry_read_only(operator_image: str):
    result = podman(
        "run", "--rm", "--network=none", "--passwd=false", "--read-only", "--cap-drop=ALL",
        operator_image, "--version",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rollout-operator {_version()}"
    identity = podman(
        "run", "--rm", "--network=none", "--passwd=false", "--entrypoint", "id", operator_image
    )
    assert identity.stdout.split()[:2] == ["uid=65532", "gid=65532"], identity.stdout
    passwd = podman(
        "run", "--rm", "--network=none", "--passwd=false", "--entrypoint", "cat", operator_image,
        "/etc/passwd",
    )  # fmt: skip
    assert ":65532:" not in passwd.stdout, "the image must not need (nor have) a passwd entry"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_image_reconciles_with_in_cluster_credentials_read_only_no_capabilities(
    operator_image: str, kubectl: Kubectl, kubeconfig: Path, namespace: str, tmp_path: Path
):
    """`podman run` like a kubelet would: ServiceAccount files, KUBERNETES_SERVICE_*."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    token = kubectl("create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=1h")
    assert token.returncode == 0, token.stderr
    (account / "token").write_text(token.stdout.strip())
    ca = kget(kubectl, "configmap", "kube-root-ca.crt", "-n", OPERATOR_NAMESPACE)["data"]["ca.crt"]
    (account / "ca.crt").write_text(ca)
    (account / "namespace").write_text(OPERATOR_NAMESPACE)
    account.chmod(0o755)
    for path in account.iterdir():
        path.chmod(0o644)
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    host, port = re.fullmatch(r"https://([\d.]+):(\d+)", server).groups()  # type: ignore[union-attr]
    health = _free_port()
    name = f"e2e-{namespace}"
    run = podman(
        "run", "-d", "--name", name, "--network=host", "--passwd=false", "--read-only",
        "--tmpfs=/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        f"--volume={account}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
        f"--env=KUBERNETES_SERVICE_HOST={host}", f"--env=KUBERNETES_SERVICE_PORT={port}",
        operator_image, "run", "--namespace", namespace, "--bind-address=127.0.0.1",
        f"--health-port={health}", "--metrics-port=0", "--log-format=json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        wait_for(lambda: _healthy(health), timeout=60, what="the container's /healthz")
        apply_objects(kubectl, _workloads(), namespace)
        apply_objects(kubectl, _rollouts(), namespace)
        rollout = wait_rollout(kubectl, namespace, "server", "Succeeded")
        assert rollout["status"]["images"][0]["image"] == f"{SERVER_IMAGE}:3f2c1ab"
    finally:
        logs = podman("logs", name)
        (LOG_DIR / f"{name}.log").write_text(logs.stdout + logs.stderr)
        podman("rm", "--force", "--time=5", name)
    assert "Traceback" not in logs.stdout + logs.stderr


# -- the pipeline, from examples/ ----------------------------------------------------------


def _load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]


def _labelled(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {})[TEST_LABEL] = "true"
    return obj


def _workloads(*, secrets: bool = False) -> list[dict[str, Any]]:
    """examples/workloads.yaml, restricted-compliant; the server fails fast when broken."""
    objects = [_labelled(o) for o in _load("workloads.yaml")]
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        pod["securityContext"] = dict(RESTRICTED_POD)
        for container in pod["containers"]:
            container["securityContext"] = copy.deepcopy(RESTRICTED_CONTAINER)
        if obj["metadata"]["name"] == "server":
            obj["spec"]["progressDeadlineSeconds"] = 10
    if secrets:
        objects.append(_secret("v1"))
    return objects


def _secret(value: str) -> dict[str, Any]:
    return _labelled(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "grafana-agent-token"},
            "stringData": {"token": value},
        }
    )


def _rollouts(*, secrets: bool = False) -> list[dict[str, Any]]:
    objects = [_labelled(o) for o in _load("rollouts.yaml")]
    if secrets:
        agent = next(o for o in objects if o["metadata"]["name"] == "grafana-agent")
        agent["spec"]["restartOnChangeOf"]["secrets"] = ["grafana-agent-token"]
    return objects


def rollout(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kget(kubectl, "rollouts.rollout-operator.dev", name, "-n", namespace)
    return body


def wait_rollout(
    kubectl: Kubectl, namespace: str, name: str, phase: str, timeout: float = 120, **status: Any
) -> dict[str, Any]:
    """The Rollout's status for its current generation has `phase` (and the `status` items)."""

    def check() -> Observed:
        body = rollout(kubectl, namespace, name)
        current = body.get("status") or {}
        ok = (
            current.get("observedGeneration") == body["metadata"]["generation"]
            and current.get("phase") == phase
            and all(current.get(k) == v for k, v in status.items())
        )
        return Observed(
            ok, body if ok else {k: current.get(k) for k in ("phase", "reason", "message")}
        )

    result: Observed = wait_for(check, timeout=timeout, what=f"Rollout {name} {phase}")
    body: dict[str, Any] = result.value
    return body


def deployment(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = kget(kubectl, "deployment", name, "-n", namespace)
    return body


def generation(kubectl: Kubectl, namespace: str, name: str) -> int:
    return int(deployment(kubectl, namespace, name)["metadata"]["generation"])


def restart_annotation(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    template = deployment(kubectl, namespace, name)["spec"]["template"]
    value: str | None = (template["metadata"].get("annotations") or {}).get(RESTART_ANNOTATION)
    return value


def wait_restarted(kubectl: Kubectl, namespace: str, name: str, to_generation: int) -> None:
    """The workload was restarted (its generation reached `to_generation`) and that is done."""
    wait_for(
        lambda: Observed(
            generation(kubectl, namespace, name) >= to_generation,
            generation(kubectl, namespace, name),
        ),
        timeout=60,
        what=f"{name} restarted",
    )
    wait_rollout(
        kubectl,
        namespace,
        name,
        "Succeeded",
        restartTrigger=restart_annotation(kubectl, namespace, name),
    )


def replay_pipeline(kubectl: Kubectl, namespace: str, *, secrets: bool) -> None:
    """examples/: set image, ConfigMap restart (+ Secret restart), Succeeded; broken -> Failed."""
    apply_objects(kubectl, _workloads(secrets=secrets), namespace)
    apply_objects(kubectl, _rollouts(secrets=secrets), namespace)

    # kubectl set image deployment server server=...:3f2c1ab, and rollout status
    server = wait_rollout(kubectl, namespace, "server", "Succeeded")
    assert server["status"]["images"] == [
        {"container": "server", "image": f"{SERVER_IMAGE}:3f2c1ab"}
    ]
    live = deployment(kubectl, namespace, "server")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{SERVER_IMAGE}:3f2c1ab"
    assert live["metadata"]["generation"] == 2, "exactly one image change"
    wait_rollout(kubectl, namespace, "grafana-agent", "Succeeded")
    assert generation(kubectl, namespace, "grafana-agent") == 1, "adoption restarts nothing"

    # kubectl rollout restart deployment grafana-agent, because its ConfigMap changed
    apply_objects(kubectl, [_labelled(o) for o in _load("grafana-agent-config-v2.yaml")], namespace)
    wait_restarted(kubectl, namespace, "grafana-agent", 2)
    expected_generation = 2
    if secrets:
        apply_objects(kubectl, [_secret("v2")], namespace)
        wait_restarted(kubectl, namespace, "grafana-agent", 3)
        expected_generation = 3
    assert generation(kubectl, namespace, "grafana-agent") == expected_generation, (
        "one restart each"
    )

    # a bad release: pods never get Ready; Failed at the Deployment's progress deadline
    patch = {"spec": {"containers": [{"name": "server", "tag": "v2-broken"}]}}
    result = kubectl(
        "patch", "rollouts.rollout-operator.dev", "server", "-n", namespace, "--type=merge",
        "-p", json.dumps(patch),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    failed = wait_rollout(kubectl, namespace, "server", "Failed", timeout=180)
    assert failed["status"]["reason"] == "ProgressDeadlineExceeded", failed["status"]
    assert generation(kubectl, namespace, "server") == 3


def check_operator_pods(
    kubectl: Kubectl, node: str, image: str, count: int
) -> list[dict[str, Any]]:
    """The operator runs from `image` on the real node as the shipped account, never restarted."""
    pods = [p for p in operator_pods(kubectl) if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == count, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == node, (name, pod["spec"].get("nodeName"))
        assert pod["spec"]["serviceAccountName"] == OPERATOR_ACCOUNT
        assert pod["spec"]["containers"][0]["image"] == image
        assert restarts(pod) == 0, f"{name} restarted:\n{operator_logs(kubectl, name)}"
    return pods


def describe_operator(kubectl: Kubectl) -> str:
    """The operator pods' state and last log lines, for a failure message."""
    lines = []
    for pod in operator_pods(kubectl):
        name = pod["metadata"]["name"]
        lines.append(f"pod {name}: node {pod['spec'].get('nodeName')}, restarts {restarts(pod)}")
        lines.append(operator_logs(kubectl, name, tail=15))
    return "\n".join(lines) or "no operator pods"


def save_logs(kubectl: Kubectl, label: str) -> None:
    for pod in operator_pods(kubectl):
        name = pod["metadata"]["name"]
        (LOG_DIR / f"incluster-{label}-{name}.log").write_text(
            operator_logs(kubectl, name, tail=2000)
        )


def remove_test_objects(kubectl: Kubectl, namespace: str) -> None:
    kubectl(
        "delete", "rollouts.rollout-operator.dev,deployments,configmaps,secrets", "-n", namespace,
        "-l", TEST_LABEL, "--ignore-not-found", "--wait=true", timeout=120,
    )  # fmt: skip


@pytest.fixture
def installs(kubectl: Kubectl, tmp_path: Path) -> Iterator[list[Install]]:
    """Installs made by a test, removed afterwards (their logs kept in the e2e log dir)."""
    made: list[Install] = []
    yield made
    for installed in made:
        save_logs(kubectl, installed.mode.replace("/", "-"))
        remove_test_objects(kubectl, OPERATOR_NAMESPACE)
        remove_install(kubectl, installed)


@pytest.mark.parametrize(
    "mode", ["manifests", "manifests/overlays/secrets", "manifests/overlays/namespaced"]
)
def test_install_mode_replays_the_pipeline_in_a_real_pod(
    mode: str, operator_image: str, real_node: str, kubectl: Kubectl, namespace: str,
    tmp_path: Path, installs: list[Install],
):  # fmt: skip
    installs.append(apply_install(kubectl, mode, operator_image, tmp_path))
    (pod,) = wait_operator_ready(kubectl, 1)
    # Leader election is on in every install, not only HA: the one pod holds the Lease.
    wait_for(
        lambda: Observed(lease_holder(kubectl) == pod["metadata"]["name"], lease_holder(kubectl)),
        timeout=60,
        what="the operator pod holding the Lease",
    )
    # The namespaced mode watches only its own namespace: the workloads go there.
    where = OPERATOR_NAMESPACE if mode.endswith("namespaced") else namespace
    try:
        replay_pipeline(kubectl, where, secrets=mode.endswith("secrets"))
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe_operator(kubectl)}") from error
    check_operator_pods(kubectl, real_node, operator_image, 1)


# -- HA: two real pods, one Lease ----------------------------------------------------------


def lease_holder(kubectl: Kubectl) -> str | None:
    result = kubectl(
        "get", "lease", "rollout-operator", "-n", OPERATOR_NAMESPACE,
        "-o", "jsonpath={.spec.holderIdentity}",
    )  # fmt: skip
    return result.stdout.strip() or None if result.returncode == 0 else None


def image_updates(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    """The ImageUpdated Events on Rollout `name`, oldest first (each change posts one)."""
    events = kget(
        kubectl, "events", "-n", namespace,
        f"--field-selector=involvedObject.kind=Rollout,involvedObject.name={name},reason=ImageUpdated",
    )["items"]  # fmt: skip
    ordered: list[dict[str, Any]] = sorted(events, key=lambda e: e["metadata"]["creationTimestamp"])
    return ordered


def _slow_deployment(name: str) -> dict[str, Any]:
    """Replicas that become Ready one after the other: a rollout that takes a while."""
    (server,) = [o for o in _workloads() if o["metadata"]["name"] == "server"]
    server = copy.deepcopy(server)
    server["metadata"]["name"] = name
    server["metadata"]["labels"]["app"] = name
    server["spec"]["selector"] = {"matchLabels": {"app": name}}
    server["spec"]["template"]["metadata"]["labels"]["app"] = name
    server["spec"]["replicas"] = 8
    server["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    del server["spec"]["progressDeadlineSeconds"]
    return server


def _rollout(name: str, tag: str) -> dict[str, Any]:
    return _labelled(
        {
            "apiVersion": "rollout-operator.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name},
            "spec": {
                "targetRef": {"kind": "Deployment", "name": name},
                "containers": [{"name": "server", "tag": tag}],
            },
        }
    )


def test_ha_standby_takes_over_when_the_active_pod_goes_mid_rollout(
    operator_image: str, real_node: str, kubectl: Kubectl, namespace: str, tmp_path: Path,
    installs: list[Install],
):  # fmt: skip
    installs.append(apply_install(kubectl, "manifests/overlays/ha", operator_image, tmp_path))
    pods = wait_operator_ready(kubectl, 2)
    names = {p["metadata"]["name"] for p in pods}
    wait_for(
        lambda: Observed(lease_holder(kubectl) in names, lease_holder(kubectl)),
        timeout=60,
        what="a leader",
    )

    apply_objects(kubectl, [_slow_deployment("app"), _slow_deployment("other")], namespace)
    apply_objects(kubectl, [_rollout("app", "v1"), _rollout("other", "v1")], namespace)
    wait_rollout(kubectl, namespace, "app", "Succeeded")
    wait_rollout(kubectl, namespace, "other", "Succeeded")
    assert generation(kubectl, namespace, "app") == generation(kubectl, namespace, "other") == 2

    # Mid-rollout: the image is set and pods are being replaced when the leader goes.
    apply_objects(kubectl, [_rollout("app", "v2")], namespace)
    wait_for(
        lambda: generation(kubectl, namespace, "app") == 3, timeout=60, what="app's image change"
    )
    wait_rollout(kubectl, namespace, "app", "Progressing")
    leader = lease_holder(kubectl)
    assert leader in names
    deleted_at = time.monotonic()
    result = kubectl("delete", "pod", str(leader), "-n", OPERATOR_NAMESPACE, "--wait=false")
    assert result.returncode == 0, result.stderr
    # A change made while the leader is going: the new leader must apply it, once.
    apply_objects(kubectl, [_rollout("other", "v2")], namespace)
    (standby,) = names - {leader}
    wait_for(
        lambda: Observed(lease_holder(kubectl) == standby, lease_holder(kubectl)),
        timeout=120,
        what="takeover",
    )
    failover = time.monotonic() - deleted_at
    wait_for(
        lambda: generation(kubectl, namespace, "other") == 3, timeout=120, what="other's change"
    )
    applied = time.monotonic() - deleted_at
    # Measured, not asserted (no timed assertions): see the e2e log dir.
    report = (
        f"HA failover: active pod deleted -> Lease held by the standby {failover:.1f}s, "
        f"-> the change made meanwhile applied {applied:.1f}s"
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "incluster-ha-failover.txt").write_text(report + "\n")
    print(report)

    app = wait_rollout(kubectl, namespace, "app", "Succeeded", timeout=180)
    other = wait_rollout(kubectl, namespace, "other", "Succeeded", timeout=180)
    assert app["status"]["images"][0]["image"].endswith(":v2")
    assert other["status"]["images"][0]["image"].endswith(":v2")
    # Nothing doubled: one image change and one ImageUpdated Event for each of v1 and v2;
    # the change made during the takeover was made by the standby.
    assert generation(kubectl, namespace, "app") == 3
    assert generation(kubectl, namespace, "other") == 3
    assert [e["reportingInstance"] for e in image_updates(kubectl, namespace, "app")] == [
        leader
    ] * 2
    (_, late) = image_updates(kubectl, namespace, "other")
    assert late["reportingInstance"] == standby, late
    survivor = next(p for p in operator_pods(kubectl) if p["metadata"]["name"] == standby)
    assert restarts(survivor) == 0, operator_logs(kubectl, standby)
    assert survivor["spec"]["nodeName"] == real_node
    assert REAL_NODE_KEY in json.dumps(survivor["spec"]["nodeSelector"])
