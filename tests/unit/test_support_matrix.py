"""The support matrix cannot drift: the versions CI runs (tests/cluster/versions.env), the Go
modules that build them, the README's table and the chart's floor all name the same ones."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "tests" / "cluster"


def _versions() -> dict[str, str]:
    found = {}
    for line in (CLUSTER / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            found[key.strip()] = value.strip()
    return found


def _minor(version: str) -> str:
    return ".".join(version.removeprefix("v").split(".")[:2])


def _pinned(module: str) -> str:
    text = (CLUSTER / "tools" / module / "go.mod").read_text()
    match = re.search(r"^require k8s\.io/kubernetes (v\S+)$", text, re.M)
    assert match, f"tools/{module}/go.mod does not require k8s.io/kubernetes on one line"
    return match[1]


def test_the_go_modules_pin_the_versions_ci_runs():
    versions = _versions()
    assert _pinned("kubernetes") == versions["KUBE_VERSION"]
    compat = versions["COMPAT_KUBE_VERSION"]
    # build.sh compat builds from the module named after the minor.
    assert _pinned(f"kubernetes-v{_minor(compat)}") == compat


def test_the_oldest_supported_minor_is_older_than_the_current_one():
    versions = _versions()
    current, oldest = _minor(versions["KUBE_VERSION"]), _minor(versions["COMPAT_KUBE_VERSION"])
    assert tuple(map(int, oldest.split("."))) < tuple(map(int, current.split(".")))


def test_readme_and_chart_name_the_tested_versions_and_the_floor():
    versions = _versions()
    readme = (REPO / "README.md").read_text()
    matrix = readme[readme.index("### Supported Kubernetes versions") :]
    matrix = matrix[: matrix.index("\n**")]
    rows = {
        line.split("|")[1].strip(): line for line in matrix.splitlines() if line.startswith("| 1.")
    }
    current, oldest = _minor(versions["KUBE_VERSION"]), _minor(versions["COMPAT_KUBE_VERSION"])
    assert f"on {versions['KUBE_VERSION']}" in rows[current]
    assert "make test-compat" in rows[oldest]
    assert f"on {versions['COMPAT_KUBE_VERSION']}" in rows[oldest]
    chart = yaml.safe_load((REPO / "charts" / "rollout-operator" / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={oldest}.0-0"
