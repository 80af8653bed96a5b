"""Attack: recover a Secret from its visible hashes (issue 8, finding 2).

A namespace `view` user cannot read Secrets, but reads Rollouts (status.configs[].hash,
configHash, restartTrigger), workloads, ReplicaSets and pods (the restart pod-template
annotation), Events, and here also the operator's log (at debug level). With an unkeyed
content hash, a 4-digit PIN falls to 10,000 guesses. The test runs that brute force against
every hex value the user can see; the control runs the same brute force against the old
unkeyed scheme (plain SHA-256 of the canonical content) computed by the test itself, and
must succeed, so a pass means the visible values are keyed, not that the search is broken.
A second test shows equal Secret content in two namespaces gives different visible values
(else one Secret's value would be an oracle for the other).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment, wait_for
from .operator_process import OperatorProcess
from .rollouts import get_rollout, make_rollout, wait_phase

SECRET = "pin"
KEY = "pin"
#: Hex runs this long are hashes (or their prefixes); shorter ones match by chance.
MIN_HEX = 12
HEX = re.compile(rf"[0-9a-f]{{{MIN_HEX},}}")


# --- The old, unkeyed scheme (confighash.content_hash / combined_hash before issue 8) ---


def old_content_hash(data: dict[str, str]) -> str:
    """SHA-256 of the canonical `data`/`binaryData` JSON, as the operator used to publish."""
    canonical = json.dumps(
        {"data": data, "binaryData": {}}, sort_keys=True, separators=(",", ":"),
        ensure_ascii=False,
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def old_combined_hash(hashes: dict[str, str]) -> str:
    lines = "\n".join(f"{key}={value}" for key, value in sorted(hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def guesses(pin: str) -> Iterator[str]:
    """Every unkeyed value an attacker would try for one PIN."""
    encoded = base64.b64encode(pin.encode()).decode()
    content = old_content_hash({KEY: encoded})
    yield content
    yield old_combined_hash({f"Secret/{SECRET}": content})
    yield old_content_hash({KEY: pin})  # decoded values, in case
    yield hashlib.sha256(pin.encode()).hexdigest()
    yield hashlib.sha256(encoded.encode()).hexdigest()


def brute_force(visible: Iterable[str]) -> list[str]:
    """All PINs 0000-9999 whose guesses equal (or start with) a visible hex value."""
    tokens = set(visible)
    lengths = sorted({len(t) for t in tokens})
    found = []
    for number in range(10_000):
        pin = f"{number:04d}"
        if any(guess[:n] in tokens for guess in guesses(pin) for n in lengths):
            found.append(pin)
    return found


def hex_values(text: str) -> set[str]:
    """Every hex run of MIN_HEX+ characters (also inside `config=...` and longer strings)."""
    return {match.group() for match in HEX.finditer(text)}


def test_brute_force_recovers_a_pin_from_the_old_unkeyed_scheme():
    """The control: if the operator still published these, the attack would succeed."""
    pin = f"{secrets.randbelow(10_000):04d}"
    content = old_content_hash({KEY: base64.b64encode(pin.encode()).decode()})
    visible = {content, old_combined_hash({f"Secret/{SECRET}": content})[:16]}
    assert brute_force(visible) == [pin]
    assert brute_force(hex_values(f'restartTrigger: "config={content[:16]}"')) == [pin]


# --- The real thing ---


@pytest.fixture(scope="module")
def verbose_operator(operator: OperatorProcess, operator_kubeconfig: Path
                     ) -> Iterator[OperatorProcess]:  # fmt: skip
    """The session's operator at debug level (-v), so its log is the most it ever says."""
    operator.stop()  # one operator acting at a time
    verbose = OperatorProcess(
        operator_kubeconfig,
        ["--enable-secrets", "-v"],
        name=f"security-hashes-{secrets.token_hex(3)}",
        env={"POD_NAMESPACE": "rollout-operator-system"},
    )
    verbose.start()
    try:
        yield verbose
    finally:
        verbose.stop()
        operator.start()


def _secret(pin: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET},
        "data": {KEY: base64.b64encode(pin.encode()).decode()},
    }


def _viewer(kubectl: Kubectl, namespace: str) -> str:
    """A user with the aggregated `view` role in `namespace`: no Secrets."""
    user = f"viewer-{secrets.token_hex(3)}"
    kubectl("create", "rolebinding", "view", "--clusterrole=view", f"--user={user}",
            "-n", namespace, check=True)  # fmt: skip
    wait_for(
        lambda: kubectl("auth", "can-i", "get", "rollouts.rollout-operator.dev", "-n", namespace,
                        "--as", user).stdout.strip() == "yes",
        what="the viewer's role in force",
    )  # fmt: skip
    assert kubectl("auth", "can-i", "get", "secrets", "-n", namespace, "--as", user
                   ).stdout.strip() == "no"  # fmt: skip
    return user


def _secret_hashes(rollout: dict[str, object]) -> list[str]:
    status = rollout.get("status") or {}
    assert isinstance(status, dict)
    return [c.get("hash") or "" for c in status.get("configs") or [] if c.get("kind") == "Secret"]


def test_view_user_cannot_recover_a_4_digit_secret(
    verbose_operator: OperatorProcess, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi, apps_api: client.AppsV1Api,
):  # fmt: skip
    first, pin = (f"{n:04d}" for n in secrets.SystemRandom().sample(range(10_000), 2))
    kubectl.apply(_secret(first), namespace)
    kubectl.apply(make_deployment("app", replicas=1), namespace)
    kubectl.apply(make_rollout("app", "app", secrets=[SECRET]), namespace)
    adopted = wait_phase(custom_api, namespace, "app", "Succeeded")
    # A change of the Secret restarts the workload: now the hash is also in the pod template.
    kubectl.apply(_secret(pin), namespace)

    def restarted() -> dict[str, object] | None:
        rollout = get_rollout(custom_api, namespace, "app")
        status = rollout.get("status") or {}
        changed = status.get("configHash") not in (None, adopted["status"].get("configHash"))
        template = apps_api.read_namespaced_deployment("app", namespace).spec.template
        annotated = "rollout-operator.dev/restart" in (template.metadata.annotations or {})
        done = changed and annotated and status.get("phase") == "Succeeded"
        return rollout if done else None

    rollout = wait_for(restarted, timeout=120, what="the restart after the Secret changed")
    assert rollout["status"]["configHash"]

    viewer = _viewer(kubectl, namespace)
    seen = kubectl("--as", viewer, "get",
                   "rollouts,deployments,replicasets,pods,events,configmaps",
                   "-n", namespace, "-o", "json")  # fmt: skip
    assert seen.returncode == 0, seen.stderr
    visible = hex_values(seen.stdout) | hex_values(verbose_operator.log())
    assert hex_values(rollout["status"]["configHash"]) <= visible

    assert brute_force(visible) == [], "a PIN was recovered from what a view user can read"
    # Not vacuous: the user saw the Secret's own value (status.configs) too.
    hashes = _secret_hashes(rollout)
    assert hashes, rollout["status"]
    assert all(hashes)
    assert set().union(*(hex_values(h) for h in hashes)) <= visible
    # And the operator does not log a Secret's content hash at any level.
    log = verbose_operator.log()
    for value in _secret_hashes(rollout):
        assert value[:MIN_HEX] not in log


def test_equal_secrets_in_two_namespaces_show_different_values(
    verbose_operator: OperatorProcess, kubectl: Kubectl, namespace: str,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    other = f"{namespace[:50]}-b"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        rollouts = {}
        for ns in (namespace, other):
            kubectl.apply(_secret("1234"), ns)  # same name, same content
            kubectl.apply(make_deployment("app", replicas=1), ns)
            kubectl.apply(make_rollout("app", "app", secrets=[SECRET]), ns)
        for ns in (namespace, other):
            rollouts[ns] = wait_phase(custom_api, ns, "app", "Succeeded")
        a, b = (rollouts[ns]["status"] for ns in (namespace, other))
        assert a["configHash"] != b["configHash"]
        hashes = [_secret_hashes(rollouts[ns]) for ns in (namespace, other)]
        assert all(len(h) == 1 and h[0] for h in hashes), hashes
        assert hashes[0] != hashes[1]
        assert not hex_values(json.dumps(a)) & hex_values(json.dumps(b))
    finally:
        core_api.delete_namespace(other, propagation_policy="Background")
