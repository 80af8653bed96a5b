"""Fixtures for the end-to-end tests.

By default they run on the local kwok cluster (tests/cluster/cluster.sh): it is
built and started when it is not running, and stopped at the end of the
session if this session started it (set E2E_KEEP_CLUSTER=1 to keep it).

Environment:
  E2E_KUBECONFIG=path      use that cluster instead (kubectl from the cache, else PATH)
  E2E_KUBECTL=path         use that kubectl (make test-compat: the compat cluster's own)
  E2E_KUBE_VERSION=vX.Y.Z  the version the cluster must run (test_compat.py checks it)
  E2E_ALLOW_ANY_CONTEXT=1  allow a current-context not made by our tooling
                           (the tests create and delete namespaces!)
  E2E_KEEP_CLUSTER=1       leave a cluster this session started running
  E2E_LOG_DIR=path         where operator logs and reports go (default .venv/e2e-logs)
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from .kube import Kubectl, Observed, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "tests" / "cluster"
CLUSTER_SH = CLUSTER_DIR / "cluster.sh"
BUILD_SH = CLUSTER_DIR / "build.sh"
CRDS_DIR = REPO_ROOT / "crds"
# Contexts that our tooling creates: `cluster.sh up` (kwok), `COMPAT=1 cluster.sh up` (kwok,
# the oldest supported minor) and `cluster.sh kind-up`.
OUR_CONTEXTS = frozenset(
    {"kwok-rollout-operator", "kwok-rollout-operator-compat", "kind-rollout-operator"}
)
NAMESPACE_LABEL = "rollout-operator.dev/e2e"


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one of tests/cluster/*.sh; its logs go to our stderr, stdout is captured."""
    return subprocess.run(
        [*args],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )


def _using_external_cluster() -> bool:
    return bool(os.environ.get("E2E_KUBECONFIG"))


def _check_context(kubeconfig: Path) -> None:
    """Refuse a kubeconfig whose current-context our tooling did not create."""
    try:
        data = yaml.safe_load(kubeconfig.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        pytest.exit(f"e2e: cannot read kubeconfig {kubeconfig}: {error}", returncode=2)
    current = data.get("current-context") or ""
    if current in OUR_CONTEXTS or os.environ.get("E2E_ALLOW_ANY_CONTEXT") == "1":
        return
    pytest.exit(
        f"e2e: refusing kubeconfig {kubeconfig}: its current-context {current!r} was not "
        f"created by tests/cluster/cluster.sh (expected one of {sorted(OUR_CONTEXTS)}). "
        "The e2e tests create and delete namespaces; set E2E_ALLOW_ANY_CONTEXT=1 "
        "if this cluster is really meant for that.",
        returncode=2,
    )


def _cache_bin_dir() -> Path:
    """Where tests/cluster/build.sh puts the binaries (same rule as build.sh)."""
    versions: dict[str, str] = {}
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            versions[key] = value
    root = os.environ.get("ROLLOUT_OPERATOR_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rollout-operator"
    )
    stamp = "k8s-{KUBE_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}".format(**versions)
    return Path(root) / stamp / "bin"


@pytest.fixture(scope="session")
def cluster_bin_dir() -> Path | None:
    """The cache dir with kubectl, kube-apiserver, kwokctl...; built when missing.

    With E2E_KUBECONFIG nothing is built: None when the cache has no kubectl
    (then the kubectl fixture uses the one on PATH).
    """
    if _using_external_cluster():
        path = _cache_bin_dir()
        return path if (path / "kubectl").is_file() else None
    result = _run_script(str(BUILD_SH), timeout=3600)
    if result.returncode != 0:
        pytest.exit("e2e: tests/cluster/build.sh failed (see its output above)", returncode=3)
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def kubeconfig(cluster_bin_dir: Path | None) -> Iterator[Path]:
    """The kubeconfig of the cluster under test (guarded: see _check_context)."""
    external = os.environ.get("E2E_KUBECONFIG")
    if external:
        path = Path(external).expanduser()
        if not path.is_file():
            pytest.exit(f"e2e: E2E_KUBECONFIG={external} does not exist", returncode=2)
        _check_context(path)
        yield path
        return

    started = False
    status = _run_script(str(CLUSTER_SH), "status", timeout=60)
    if status.returncode != 0:
        up = _run_script(str(CLUSTER_SH), "up", timeout=600)
        started = True  # even a failed `up` may have left processes to stop
        if up.returncode != 0:
            _run_script(str(CLUSTER_SH), "down", timeout=120)
            pytest.exit("e2e: tests/cluster/cluster.sh up failed (see above)", returncode=3)
    path = Path(_run_script(str(CLUSTER_SH), "kubeconfig", timeout=30).stdout.strip())
    try:
        _check_context(path)
        yield path
    finally:
        if started and os.environ.get("E2E_KEEP_CLUSTER") != "1":
            _run_script(str(CLUSTER_SH), "down", timeout=300)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, cluster_bin_dir: Path | None) -> Kubectl:
    """``kubectl(*args, check=False, timeout=None, input=None)`` -> CompletedProcess[str]."""
    binary: Path | str | None = os.environ.get("E2E_KUBECTL") or None
    if binary is None and cluster_bin_dir is not None and (cluster_bin_dir / "kubectl").is_file():
        binary = cluster_bin_dir / "kubectl"
    if binary is None and _using_external_cluster():
        binary = shutil.which("kubectl")
    if binary is None:
        pytest.exit("e2e: no kubectl (not in the cache bin dir, nor on PATH)", returncode=3)
    return Kubectl(binary=binary, kubeconfig=kubeconfig)


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A kubernetes.client.ApiClient for the kubeconfig's current context."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def apps_api(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def core_api(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom_api(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def _crd_names(path: Path) -> list[str]:
    return [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]


@pytest.fixture(scope="session")
def crds_installed(kubectl: Kubectl, api_client: client.ApiClient) -> list[str]:
    """Server-side applies every crds/*.yaml and waits until each CRD is Established.

    Returns the CRD names (empty while crds/ holds none).
    """
    files = sorted([*CRDS_DIR.glob("*.yaml"), *CRDS_DIR.glob("*.yml")])
    names: list[str] = []
    for path in files:
        crds = _crd_names(path)
        if not crds:
            continue
        result = kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=rollout-operator-e2e",
            "-f",
            str(path),
        )
        assert result.returncode == 0, f"applying {path} failed: {result.stderr}"
        names.extend(crds)
    extensions = client.ApiextensionsV1Api(api_client)

    def established(name: str) -> Observed:
        crd = extensions.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in (crd.status.conditions or [])}
        return Observed(conditions.get("Established") == "True", conditions)

    for name in names:
        wait_for(lambda name=name: established(name), timeout=60, what=f"CRD {name} Established")
    return names


def _namespace_name(test_name: str) -> str:
    short = re.sub(r"[^a-z0-9]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    return f"e2e-{short[:40].rstrip('-')}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(core_api: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace ``e2e-<test>-<random>``, deleted (not awaited) after the test."""
    name = _namespace_name(request.node.name)
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(name=name, labels={NAMESPACE_LABEL: "true"})
    )
    core_api.create_namespace(body)
    try:
        yield name
    finally:
        try:
            core_api.delete_namespace(name, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Everything under tests/e2e needs a cluster: mark it e2e."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# Fault injection (tests/e2e/test_faults_*.py): see faults.py.
from .faults import exclusive, fault_report, local_cluster, operators  # noqa: E402, F401

# The operator under test (one process for the session): see operator_process.py; and
# the operator's image on the real node (in-cluster tests): see incluster.py.
from .incluster import local_operator_paused, operator_image, real_node  # noqa: E402, F401
from .operator_process import operator, operator_kubeconfig  # noqa: E402, F401
