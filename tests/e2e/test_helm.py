"""The Helm chart and the monitoring assets against the real API server.

`helm template` of every install mode must be accepted by `kubectl apply --dry-run=server`
(schema, RBAC escalation and admission checks all run; nothing is stored), and a real
`helm install` / `upgrade` / `uninstall` must create, change and remove exactly the
release's objects while keeping the CRD (and so every Rollout).

prometheus-operator's CRDs (ServiceMonitor, PrometheusRule) come from
tests/e2e/testdata/prometheus-operator-crds.yaml, copied from its Go module.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube import Kubectl, Observed, wait_for
from .operator_process import REPO

CHART = REPO / "charts" / "rollout-operator"
TESTDATA = Path(__file__).parent / "testdata"
MONITORING_CRDS = TESTDATA / "prometheus-operator-crds.yaml"
BUILD_SH = REPO / "tests" / "cluster" / "build.sh"


class Helm:
    """helm against the test cluster, with its config, cache and data in a temp dir."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=600,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result

    def template(self, release: str, namespace: str, values: Sequence[str]) -> str:
        sets = [arg for value in values for arg in ("--set", value)]
        return self(
            "template", release, str(CHART), "--namespace", namespace, "--include-crds", *sets
        ).stdout


@pytest.fixture(scope="session")
def helm(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    built = subprocess.run(
        [str(BUILD_SH), "helm"], capture_output=True, text=True, timeout=3600, check=False
    )
    assert built.returncode == 0, built.stderr
    binary = Path(built.stdout.strip().splitlines()[-1]) / "helm"
    return Helm(binary, kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def monitoring_crds(kubectl: Kubectl) -> Iterator[None]:
    """prometheus-operator's ServiceMonitor and PrometheusRule CRDs, for this module only."""
    result = kubectl("apply", "--server-side", "-f", str(MONITORING_CRDS))
    assert result.returncode == 0, result.stderr
    for crd in ("servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s", check=True)
    try:
        yield
    finally:
        kubectl("delete", "-f", str(MONITORING_CRDS), "--wait=false")


def dry_run(kubectl: Kubectl, manifest: str, namespace: str) -> str:
    result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest)
    assert result.returncode == 0, f"{result.stderr}\n{manifest}"
    return result.stdout


MODES = {
    "default": [],
    "secrets": ["secrets.enabled=true"],
    "ha": ["ha.enabled=true"],
    "namespaced": ["watchNamespaces={NS}"],
    "everything": [
        "secrets.enabled=true",
        "ha.enabled=true",
        "watchNamespaces={NS}",
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring",
    ],
}


@pytest.mark.compat
@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_is_accepted_by_the_api_server(
    helm: Helm, kubectl: Kubectl, namespace: str, monitoring_crds: None, mode: str
) -> None:
    values = [value.replace("NS", namespace) for value in MODES[mode]]
    manifest = helm.template("rollout-operator", namespace, values)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(manifest) if doc}
    assert {"CustomResourceDefinition", "Deployment", "ValidatingAdmissionPolicy"} <= kinds
    out = dry_run(kubectl, manifest, namespace)
    assert "deployment.apps/rollout-operator" in out
    assert "(server dry run)" in out


def test_monitoring_rules_are_accepted_by_the_api_server(
    kubectl: Kubectl, namespace: str, monitoring_crds: None
) -> None:
    out = dry_run(kubectl, (REPO / "monitoring" / "prometheusrule.yaml").read_text(), namespace)
    assert "prometheusrule.monitoring.coreos.com/rollout-operator" in out


def _release_objects(kubectl: Kubectl, release: str) -> list[str]:
    """Every object labelled as this release's, cluster-scoped ones included."""
    kinds = (
        "deployments,services,serviceaccounts,roles,rolebindings,networkpolicies,"
        "poddisruptionbudgets,clusterroles,clusterrolebindings,"
        "validatingadmissionpolicies,validatingadmissionpolicybindings"
    )
    result = kubectl(
        "get", kinds, "-A", "-l", f"app.kubernetes.io/instance={release}", "-o", "name"
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def _deployment(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result = kubectl("get", "deployment", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


@pytest.fixture
def release(helm: Helm, namespace: str) -> Iterator[str]:
    """A release name of its own (cluster-scoped names differ from the session's install),
    uninstalled afterwards whatever happened."""
    name = f"e2e-{secrets.token_hex(3)}"
    try:
        yield name
    finally:
        helm("uninstall", name, "--namespace", namespace, "--ignore-not-found", check=False)


def test_install_upgrade_uninstall(
    helm: Helm, kubectl: Kubectl, namespace: str, release: str
) -> None:
    fullname = f"{release}-rollout-operator"
    installed = helm(
        "install", release, str(CHART), "--namespace", namespace,
        "--set", f"watchNamespaces={{{namespace}}}", "--wait", "--timeout", "180s",
    )  # fmt: skip
    assert "STATUS: deployed" in installed.stdout
    objects = _release_objects(kubectl, release)
    assert f"deployment.apps/{fullname}" in objects
    assert f"role.rbac.authorization.k8s.io/{fullname}" in objects
    policies = [o.split("/")[0] for o in objects if o.startswith("validatingadmissionpolicy")]
    assert sorted(set(policies)) == [
        "validatingadmissionpolicy.admissionregistration.k8s.io",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io",
    ]
    assert not any(o.startswith("clusterrolebinding") for o in objects)  # namespaced mode
    account = f"system:serviceaccount:{namespace}:{fullname}"
    can = kubectl("auth", "can-i", "get", "secrets", "-n", namespace, "--as", account)
    assert can.stdout.strip() == "no"

    helm(
        "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values",
        "--set", "secrets.enabled=true", "--wait", "--timeout", "180s",
    )  # fmt: skip
    deployment = _deployment(kubectl, namespace, fullname)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--enable-secrets" in container["args"]
    assert f"--namespace={namespace}" in container["args"]  # --reuse-values kept it
    can = kubectl("auth", "can-i", "get", "secrets", "-n", namespace, "--as", account)
    assert can.stdout.strip() == "yes"
    history = helm("history", release, "--namespace", namespace, "-o", "json")
    assert [entry["status"] for entry in json.loads(history.stdout)] == ["superseded", "deployed"]

    helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
    wait_for(
        lambda: Observed(
            not _release_objects(kubectl, release), _release_objects(kubectl, release)
        ),
        timeout=60,
        what="the release's objects to be gone",
    )
    # Helm never deletes CRDs: every Rollout in the cluster survives an uninstall.
    kept = kubectl("get", "crd", "rollouts.rollout-operator.dev")
    assert kept.returncode == 0, kept.stderr
