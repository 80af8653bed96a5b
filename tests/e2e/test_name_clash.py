"""Next to Argo Rollouts: both define kind Rollout / plural rollouts (Argo's short name: ro).

Our fully qualified resource `rollouts.rollout-operator.dev` and our short name `rollo`
must always reach our Rollouts (docs/install.md, "Next to Argo Rollouts"); with ours alone,
plain `kubectl get rollouts` must work. kubectl runs with a fresh discovery cache in each
test so that what it resolves reflects the CRDs installed right then.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment
from .operator_process import OperatorProcess
from .rollouts import make_rollout, wait_phase

ARGO_CRD = Path(__file__).parent / "testdata" / "argo-rollouts-crd-standin.yaml"
OURS = "rollout.rollout-operator.dev/ours"
THEIRS = "rollout.argoproj.io/theirs"


def names(kubectl: Kubectl, cache: Path, resource: str, namespace: str) -> list[str]:
    """`kubectl get RESOURCE -o name`: which objects (of which group) a name resolves to."""
    result = kubectl("get", resource, "-n", namespace, "-o", "name", "--cache-dir", str(cache))
    assert result.returncode == 0, f"kubectl get {resource}: {result.stderr}"
    return result.stdout.split()


@pytest.fixture
def argo_crd(kubectl: Kubectl) -> Iterator[None]:
    """The stand-in of Argo Rollouts' CRD, installed for one test (others use plain names)."""
    result = kubectl("apply", "--server-side", "-f", str(ARGO_CRD))
    assert result.returncode == 0, result.stderr
    kubectl("wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=60s",
            check=True)  # fmt: skip
    try:
        yield
    finally:
        kubectl("delete", "-f", str(ARGO_CRD), "--wait=true", "--timeout=60s")


def test_with_only_ours_kubectl_get_rollouts_works(
    kubectl: Kubectl, crds_installed: list[str], namespace: str, tmp_path: Path
) -> None:
    absent = kubectl("get", "crd", "rollouts.argoproj.io")
    assert "NotFound" in absent.stderr  # the precondition: no other kind of Rollout
    kubectl.apply(make_rollout("ours", "web"), namespace)
    for resource in ("rollouts", "rollout", "rollo", "rollouts.rollout-operator.dev"):
        assert names(kubectl, tmp_path, resource, namespace) == [OURS], resource


def test_with_argo_rollouts_our_names_still_reach_ours(
    kubectl: Kubectl, argo_crd: None, namespace: str, tmp_path: Path,
    operator: OperatorProcess, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("web", replicas=1), namespace)
    kubectl.apply(make_rollout("ours", "web", containers=[{"name": "app", "tag": "v2"}]), namespace)
    theirs = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "theirs"},
    }
    kubectl.apply(theirs, namespace)

    # The clash is real: the bare plural now resolves to Argo's group, not ours.
    assert names(kubectl, tmp_path, "rollouts", namespace) == [THEIRS]
    assert names(kubectl, tmp_path, "ro", namespace) == [THEIRS]
    # Our qualified name and short name are unaffected.
    assert names(kubectl, tmp_path, "rollouts.rollout-operator.dev", namespace) == [OURS]
    assert names(kubectl, tmp_path, "rollo", namespace) == [OURS]
    assert names(kubectl, tmp_path, "rollouts.argoproj.io", namespace) == [THEIRS]
    # And the operator, which names its group, keeps working.
    wait_phase(custom_api, namespace, "ours", "Succeeded")
    waited = kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "rollouts.rollout-operator.dev/ours",
        "--timeout=60s", "--cache-dir", str(tmp_path),
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
