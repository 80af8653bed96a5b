"""Next to Argo Rollouts: both define kind Rollout / plural rollouts (Argo's short name: ro).

Our fully qualified resource `rollouts.rollout-operator.dev` and our short name `rollo`
must always reach our Rollouts (docs/install.md, "Next to Argo Rollouts"); with ours alone,
plain `kubectl get rollouts` must work.

Every kubectl call here uses the test's own discovery cache (--cache-dir): what a name
resolves to then reflects the CRDs installed right now, and the shared cache of the other
tests never learns Argo's group (it would keep resolving `rollout` to it after the stand-in
CRD is gone, and their `kubectl delete rollout ...` would miss ours).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment
from .operator_process import OperatorProcess
from .rollouts import make_rollout, wait_phase

ARGO_CRD = Path(__file__).parent / "testdata" / "argo-rollouts-crd-standin.yaml"
OURS = "rollout.rollout-operator.dev/ours"
THEIRS = "rollout.argoproj.io/theirs"


@pytest.fixture
def own_cache(kubectl: Kubectl, tmp_path: Path) -> Callable[..., CompletedProcess[str]]:
    """kubectl with this test's own discovery cache."""

    def run(*args: str, input: str | None = None) -> CompletedProcess[str]:
        return kubectl(*args, "--cache-dir", str(tmp_path / "kube-cache"), input=input)

    return run


def names(
    kubectl: Callable[..., CompletedProcess[str]], resource: str, namespace: str
) -> list[str]:
    """`kubectl get RESOURCE -o name`: which objects (of which group) a name resolves to."""
    result = kubectl("get", resource, "-n", namespace, "-o", "name")
    assert result.returncode == 0, f"kubectl get {resource}: {result.stderr}"
    return result.stdout.split()


def apply(kubectl: Callable[..., CompletedProcess[str]], obj: dict[str, Any], ns: str) -> None:
    result = kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def argo_crd(kubectl: Kubectl, own_cache: Callable[..., CompletedProcess[str]]) -> Iterator[None]:
    """The stand-in of Argo Rollouts' CRD, installed for one test only."""
    result = own_cache("apply", "--server-side", "-f", str(ARGO_CRD))
    assert result.returncode == 0, result.stderr
    established = own_cache(
        "wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=60s"
    )
    assert established.returncode == 0, established.stderr
    try:
        yield
    finally:
        own_cache("delete", "-f", str(ARGO_CRD), "--wait=true", "--timeout=60s")
        kubectl("api-resources")  # refresh the shared discovery cache, whatever it learnt


def test_with_only_ours_kubectl_get_rollouts_works(
    own_cache: Callable[..., CompletedProcess[str]], crds_installed: list[str], namespace: str
) -> None:
    absent = own_cache("get", "crd", "rollouts.argoproj.io")
    assert "NotFound" in absent.stderr  # the precondition: no other kind of Rollout
    apply(own_cache, make_rollout("ours", "web"), namespace)
    for resource in ("rollouts", "rollout", "rollo", "rollouts.rollout-operator.dev"):
        assert names(own_cache, resource, namespace) == [OURS], resource


def test_with_argo_rollouts_our_names_still_reach_ours(
    own_cache: Callable[..., CompletedProcess[str]], argo_crd: None, namespace: str,
    operator: OperatorProcess, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    apply(own_cache, make_deployment("web", replicas=1), namespace)
    apply(
        own_cache, make_rollout("ours", "web", containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    theirs = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "theirs"},
    }
    apply(own_cache, theirs, namespace)

    # The clash is real: the bare plural now resolves to Argo's group, not ours.
    assert names(own_cache, "rollouts", namespace) == [THEIRS]
    assert names(own_cache, "ro", namespace) == [THEIRS]
    # Our qualified name and short name are unaffected.
    assert names(own_cache, "rollouts.rollout-operator.dev", namespace) == [OURS]
    assert names(own_cache, "rollo", namespace) == [OURS]
    assert names(own_cache, "rollouts.argoproj.io", namespace) == [THEIRS]
    # And the operator, which names its group, keeps working.
    wait_phase(custom_api, namespace, "ours", "Succeeded")
    waited = own_cache(
        "wait", "-n", namespace, "--for=condition=Ready", "rollouts.rollout-operator.dev/ours",
        "--timeout=60s",
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
