"""Install on the Kubernetes under test: `make test-compat` runs these on the oldest supported
minor (with that minor's kubectl), `make test` on the current one.

Every shipped kustomize install mode goes through `kubectl apply -k --dry-run=server`, the
command users run, with the kubectl under test (its kustomize renders the overlays): the CRD,
RBAC, Deployment, NetworkPolicy and ValidatingAdmissionPolicy pass the apiserver's schema
validation, defaulting, CEL compilation and RBAC escalation checks, and nothing is stored. A
kind, version or field that the cluster does not serve fails here. The install for real, on a
real node: test_incluster.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from .kube import Kubectl
from .operator_process import REPO

pytestmark = pytest.mark.compat

POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
MODES = ["manifests", "manifests/overlays/secrets", "manifests/overlays/ha",
         "manifests/overlays/namespaced"]  # fmt: skip
#: What the README tells users of a cluster without ValidatingAdmissionPolicy v1 to install.
WITHOUT_POLICY = "default + components/no-admission-policy"


def _expected_version() -> str | None:
    """E2E_KUBE_VERSION, else (on the cluster the session builds) versions.env's KUBE_VERSION."""
    if os.environ.get("E2E_KUBE_VERSION"):
        return os.environ["E2E_KUBE_VERSION"]
    if os.environ.get("E2E_KUBECONFIG"):
        return None
    for line in (REPO / "tests" / "cluster" / "versions.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "KUBE_VERSION":
            return value.strip()
    raise AssertionError("versions.env has no KUBE_VERSION")


def _minor(version: str) -> int:
    return int(version.removeprefix("v").split(".")[1])


def test_the_cluster_runs_the_version_under_test_and_kubectl_is_within_skew(kubectl: Kubectl):
    expected = _expected_version()
    if expected is None:
        pytest.skip("E2E_KUBECONFIG without E2E_KUBE_VERSION: any version")
    versions = json.loads(kubectl("version", "-o", "json", check=True).stdout)
    server = versions["serverVersion"]["gitVersion"]
    assert server == expected
    # kubectl is supported within one minor of the apiserver (Kubernetes' version skew policy).
    client = versions["clientVersion"]["gitVersion"]
    assert abs(_minor(client) - _minor(server)) <= 1, (client, server)


def _without_policy(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "manifests" / "default", directory)],
        "components": [
            os.path.relpath(REPO / "manifests" / "components" / "no-admission-policy", directory)
        ],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


@pytest.mark.parametrize("mode", [*MODES, WITHOUT_POLICY])
def test_every_install_mode_passes_a_server_side_dry_run(
    kubectl: Kubectl, operator_kubeconfig: Path, tmp_path: Path, mode: str
):
    # operator_kubeconfig: the session's install made the operator's namespace, which a dry
    # run cannot make for the objects in it.
    overlay = _without_policy(tmp_path) if mode == WITHOUT_POLICY else REPO / mode
    rendered = kubectl("kustomize", str(overlay))
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount"} <= kinds
    if mode == WITHOUT_POLICY:
        assert not kinds & POLICY_KINDS
    else:
        assert kinds >= POLICY_KINDS

    result = kubectl("apply", "-k", str(overlay), "--dry-run=server")
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout}"
    lines = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(lines) == len(objects), result.stdout
    if mode != WITHOUT_POLICY:
        assert any(
            line.startswith("validatingadmissionpolicy.admissionregistration.k8s.io/")
            for line in lines
        ), result.stdout
