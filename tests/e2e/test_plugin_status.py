"""`kubectl rollouts status` in a CI script: live lines, then an honest exit code.

Exit codes (docs/cli.md): 0 rolled out, 1 failed/blocked, 3 still progressing when the wait
ended, 4 not found. "Fast" failures are shown by exit 1 under a --timeout far longer than
the test: the plugin stopped on the Rollout's verdict, not on the clock.
"""

from __future__ import annotations

import itertools

from kubernetes import client

from .kube import Kubectl, make_deployment
from .operator_process import OperatorProcess
from .plugin_cli import (
    Plugin,
    deployment_rolled_out,
    finish,
    lines_until,
    plugin_fixture,  # noqa: F401  (the `plugin` fixture)
    ready_rollout,
)
from .rollouts import condition, get_rollout, make_rollout, wait_phase

REPO = "registry.local:5000/team/server"
SUCCESS = 'deployment "server" successfully rolled out'
LONG = "10m"  # a --timeout no test reaches


def test_set_image_then_status_exits_0_only_when_rolled_out(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "server", make_deployment("server", f"{REPO}:v1"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    changed = plugin("set", "image", "server", "app=:v2", "-n", namespace)
    assert (changed.returncode, changed.stdout.strip()) == (
        0,
        "rollout.rollout-operator.dev/server image updated",
    ), changed.stderr
    result = plugin("status", "server", "-n", namespace, "--timeout", LONG)
    # Read at once, no waiting: exit 0 must mean the new image is completely rolled out.
    assert deployment_rolled_out(apps_api, namespace, "server") == (f"{REPO}:v2", True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == SUCCESS
    rollout = get_rollout(custom_api, namespace, "server")
    assert rollout["spec"]["containers"] == [{"name": "app", "tag": "v2"}]


def test_live_progress_lines_then_success_after_a_fix(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "server", make_deployment("server", f"{REPO}:v1"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    assert plugin("set", "image", "server", "app=:v2-broken", "-n", namespace).returncode == 0
    waiting = 'Waiting for deployment "server" rollout to finish: 1 out of 3 new replicas'
    process = plugin.start("status", "server", "-n", namespace, "--timeout", LONG)
    try:
        seen = list(lines_until(process, waiting))  # the workload's live line, kubectl's words
        assert plugin("set", "image", "server", "app=:v3", "-n", namespace).returncode == 0
        code, rest, err = finish(process)
    finally:
        process.kill()
    assert deployment_rolled_out(apps_api, namespace, "server") == (f"{REPO}:v3", True)
    assert code == 0, err
    lines = seen + rest.splitlines()
    assert lines[-1] == SUCCESS
    assert all(
        line.startswith(
            # kubectl's lines, "Waiting for deployment spec update to be observed..." too
            ("Waiting for deployment ", 'Waiting for rollout "server" ', SUCCESS)
        )
        for line in lines
    ), lines
    assert all(a != b for a, b in itertools.pairwise(lines)), lines  # changes only


def test_bad_image_exits_1_with_reason_and_message(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    workload = make_deployment("server", f"{REPO}:v1", progress_deadline_seconds=6)
    ready_rollout(kubectl, custom_api, namespace, "server", workload)
    assert plugin("set", "image", "server", "app=:v2-broken", "-n", namespace).returncode == 0
    result = plugin("status", "server", "-n", namespace, "--timeout", LONG)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert 'error: rollout "server" Failed: ProgressDeadlineExceeded' in result.stderr
    assert 'message: deployment "server" exceeded its progress deadline' in result.stderr
    assert "timed out" not in result.stderr
    # One look agrees, without waiting.
    once = plugin("status", "server", "-n", namespace, "--watch=false")
    assert once.returncode == 1, once.stderr


def test_failure_report_carries_the_root_cause(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    workload = make_deployment("server", f"{REPO}:v1", progress_deadline_seconds=6)
    ready_rollout(kubectl, custom_api, namespace, "server", workload)
    assert plugin("set", "image", "server", "app=:v2-broken", "-n", namespace).returncode == 0
    result = plugin("status", "server", "-n", namespace, "--timeout", LONG)
    assert result.returncode == 1, result.stderr
    cause = get_rollout(custom_api, namespace, "server")["status"].get("cause", "")
    assert "server-" in cause, f"status.cause should name the pods that are not ready: {cause!r}"
    for line in cause.splitlines():
        assert f"cause: {line}" in result.stderr


def test_blocked_spec_exits_1_and_says_what_to_fix(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
):  # fmt: skip
    kubectl.apply(make_deployment("server", f"{REPO}:v1"), namespace)
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "apq", "tag": "v2"}]), namespace
    )
    result = plugin("status", "server", "-n", namespace, "--timeout", LONG)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert 'error: rollout "server" Blocked: ContainerNotFound' in result.stderr
    assert "apq" in result.stderr
    assert "app" in result.stderr.replace("apq", "")  # the names the template has


def test_timeout_exits_3_and_says_so(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(kubectl, custom_api, namespace, "server", make_deployment("server", f"{REPO}:v1"))
    assert plugin("set", "image", "server", "app=:v2-broken", "-n", namespace).returncode == 0
    wait_phase(custom_api, namespace, "server", "Progressing")
    result = plugin("status", "server", "-n", namespace, "--timeout", "2s")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "error: timed out after 2s waiting for the rollout to finish" in result.stderr
    assert 'rollout "server": Progressing: ' in result.stderr
    once = plugin("status", "server", "-n", namespace, "--watch=false")
    assert once.returncode == 3, once.stderr
    assert "still progressing" in once.stderr


def test_the_seeds_two_workloads_at_once(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    """The seed's pipeline: set one image, change the other's ConfigMap, wait for both."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "grafana-agent"},
              "data": {"agent.yaml": "v1"}}  # fmt: skip
    kubectl.apply(config, namespace)
    ready_rollout(
        kubectl, custom_api, namespace, "server", make_deployment("server", f"{REPO}:v1"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "grafana-agent",
        make_deployment("grafana-agent", "grafana/agent:v0.43.4", replicas=2),
        config_maps=["grafana-agent"],
    )  # fmt: skip
    before = apps_api.read_namespaced_deployment("grafana-agent", namespace)
    annotations_before = before.spec.template.metadata.annotations or {}

    assert plugin("set", "image", "server", "app=:3f2c1ab", "-n", namespace).returncode == 0
    core_api.patch_namespaced_config_map("grafana-agent", namespace, {"data": {"agent.yaml": "v2"}})
    result = plugin("status", "server", "grafana-agent", "-n", namespace, "--timeout", LONG)

    # Read at once: both rolled out, and the agent really restarted (not a stale Ready).
    assert deployment_rolled_out(apps_api, namespace, "server") == (f"{REPO}:3f2c1ab", True)
    _, done = deployment_rolled_out(apps_api, namespace, "grafana-agent")
    after = apps_api.read_namespaced_deployment("grafana-agent", namespace)
    assert done
    assert (after.spec.template.metadata.annotations or {}) != annotations_before
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert f"rollout/server: {SUCCESS}" in out
    assert 'rollout/grafana-agent: deployment "grafana-agent" successfully rolled out' in out


def test_selector_waits_for_every_match_and_unknown_names_exit_4(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    for name in ("web", "api"):
        kubectl.apply(make_deployment(name, f"{REPO}:v1", replicas=2), namespace)
        manifest = make_rollout(name, name, containers=[{"name": "app", "tag": "v2"}])
        manifest["metadata"]["labels"] = {"pipeline": "pr12er"}
        kubectl.apply(manifest, namespace)
    result = plugin("status", "-l", "pipeline=pr12er", "-n", namespace, "--timeout", LONG)
    assert result.returncode == 0, result.stderr
    for name in ("web", "api"):
        assert f'rollout/{name}: deployment "{name}" successfully rolled out' in result.stdout
        rollout = get_rollout(custom_api, namespace, name)
        assert condition(rollout, "Ready")["status"] == "True"
        assert (
            condition(rollout, "Ready")["observedGeneration"] == rollout["metadata"]["generation"]
        )
    missing = plugin("status", "nosuch", "-n", namespace)
    assert missing.returncode == 4
    assert 'rollout "nosuch" not found' in missing.stderr
    nothing = plugin("status", "-l", "pipeline=none", "-n", namespace)
    assert nothing.returncode == 4
    assert "no rollouts match" in nothing.stderr


def test_rolled_back_rollout_exits_1_and_says_where_it_went(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    workload = make_deployment("server", f"{REPO}:v1", progress_deadline_seconds=6)
    ready_rollout(
        kubectl,
        custom_api,
        namespace,
        "server",
        workload,
        containers=[{"name": "app", "tag": "v1"}],
    )
    custom_api.patch_namespaced_custom_object(
        "rollout-operator.dev", "v1alpha1", namespace, "rollouts", "server",
        {"spec": {"rollbackOnFailure": True}},
    )  # fmt: skip
    assert plugin("set", "image", "server", "app=:v2-broken", "-n", namespace).returncode == 0
    result = plugin("status", "server", "-n", namespace, "--timeout", LONG)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert 'error: rollout "server" RolledBack' in result.stderr
    assert "rolled back: revision" in result.stderr
    assert f"app={REPO}:v1" in result.stderr
    # The spec still shows what was asked; the workload runs the last good image.
    assert get_rollout(custom_api, namespace, "server")["spec"]["containers"] == [
        {"name": "app", "tag": "v2-broken"}
    ]
    assert (
        apps_api.read_namespaced_deployment("server", namespace)
        .spec.template.spec.containers[0]
        .image
        == f"{REPO}:v1"
    )
