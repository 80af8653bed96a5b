"""paths.py: the one place user-written names meet a URL.

Table-driven: every path function, every name position (namespace and name), every hostile
name must raise InvalidNameError; valid names give exactly the expected path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from rollout_operator import paths
from rollout_operator.paths import InvalidNameError

HOSTILE = {
    "dot-dot-slash": "../x",
    "encoded-slash-lower": "..%2fx",
    "encoded-slash": "%2F",
    "slash": "a/b",
    "trailing-segment": "web/x",
    "leading-slash": "/x",
    "fullwidth-d": "\uff44eploy",  # fullwidth d, then "eploy"
    "cyrillic-e": "d\u0435ploy",  # Cyrillic ie for the e
    "cyrillic-a": "\u0430",  # Cyrillic a
    "too-long": "a" * 254,
    "empty": "",
    "uppercase": "Deploy",
    "dot": ".",
    "dot-dot": "..",
    "space": "a b",
    "newline": "a\n",
    "nul": "a\x00b",
    "query": "a?watch=1",
    "fragment": "a#b",
    "percent": "a%41",
    "leading-dash": "-a",
    "trailing-dash": "a-",
    "empty-label": "a..b",
    "backslash": "a\\b",
}

#: (function name, call with the name under test in one position); a valid default elsewhere.
Position = tuple[str, Callable[[str], str]]
NAMESPACE_POSITIONS: list[Position] = [
    ("rollouts", paths.rollouts),
    ("rollout", lambda ns: paths.rollout(ns, "web")),
    ("rollout_status", lambda ns: paths.rollout_status(ns, "web")),
    ("workloads", lambda ns: paths.workloads("Deployment", ns)),
    ("workload", lambda ns: paths.workload("StatefulSet", ns, "web")),
    ("configs", lambda ns: paths.configs("ConfigMap", ns)),
    ("config", lambda ns: paths.config("Secret", ns, "web")),
    ("secret", lambda ns: paths.secret(ns, "web")),
    ("secrets", paths.secrets),
    ("pods", paths.pods),
    ("events", paths.events),
    ("leases", paths.leases),
    ("lease", lambda ns: paths.lease(ns, "web")),
]
NAME_POSITIONS: list[Position] = [
    ("rollout", lambda name: paths.rollout("team", name)),
    ("rollout_status", lambda name: paths.rollout_status("team", name)),
    ("workload", lambda name: paths.workload("DaemonSet", "team", name)),
    ("config", lambda name: paths.config("ConfigMap", "team", name)),
    ("secret", lambda name: paths.secret("team", name)),
    ("lease", lambda name: paths.lease("team", name)),
]
CASES = [
    pytest.param(call, bad, id=f"{function}(name)-{label}")
    for function, call in NAME_POSITIONS
    for label, bad in HOSTILE.items()
] + [
    pytest.param(call, bad, id=f"{function}(namespace)-{label}")
    for function, call in NAMESPACE_POSITIONS
    for label, bad in HOSTILE.items()
    if bad  # the empty namespace: test_an_empty_namespace_raises_in_every_function
]


@pytest.mark.parametrize(("call", "bad"), CASES)
def test_hostile_names_raise_before_any_path_is_built(call: Callable[[str], str], bad: str):
    with pytest.raises(InvalidNameError):
        call(bad)


def test_an_empty_namespace_raises_in_every_function():
    accepted = {}
    for function, call in NAMESPACE_POSITIONS:
        with contextlib.suppress(InvalidNameError):
            accepted[function] = call("")
    assert accepted == {}


def test_a_name_just_long_enough_is_accepted():
    longest = "a" * 253
    assert paths.config("ConfigMap", "team", longest).endswith("/" + longest)


@pytest.mark.parametrize("kind", ["Pod", "deployment", "Deployments", "../x", "ReplicaSet"])
def test_unsupported_workload_kinds_raise(kind: str):
    with pytest.raises(InvalidNameError):
        paths.workload(kind, "team", "web")
    with pytest.raises(InvalidNameError):
        paths.workloads(kind)


@pytest.mark.parametrize("kind", ["Pod", "configmap", "../x"])
def test_unsupported_config_kinds_raise(kind: str):
    with pytest.raises(InvalidNameError):
        paths.config(kind, "team", "web")


ROLLOUTS = "/apis/rollout-operator.dev/v1alpha1"


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (paths.rollouts(), f"{ROLLOUTS}/rollouts"),
        (paths.rollouts("team"), f"{ROLLOUTS}/namespaces/team/rollouts"),
        (paths.rollout("team", "web.v2"), f"{ROLLOUTS}/namespaces/team/rollouts/web.v2"),
        (paths.rollout_status("team", "web"), f"{ROLLOUTS}/namespaces/team/rollouts/web/status"),
        (paths.workloads("Deployment"), "/apis/apps/v1/deployments"),
        (paths.workloads("StatefulSet", "t-1"), "/apis/apps/v1/namespaces/t-1/statefulsets"),
        (paths.workload("DaemonSet", "team", "1a"), "/apis/apps/v1/namespaces/team/daemonsets/1a"),
        (paths.configs("ConfigMap"), "/api/v1/configmaps"),
        (paths.configs("Secret", "team"), "/api/v1/namespaces/team/secrets"),
        (
            paths.config("ConfigMap", "team", "app.conf"),
            "/api/v1/namespaces/team/configmaps/app.conf",
        ),
        (paths.secret("ops", "key"), "/api/v1/namespaces/ops/secrets/key"),
        (paths.secrets("ops"), "/api/v1/namespaces/ops/secrets"),
        (paths.pods("team"), "/api/v1/namespaces/team/pods"),
        (paths.events(), "/api/v1/events"),
        (paths.events("team"), "/api/v1/namespaces/team/events"),
        (paths.leases("ops"), "/apis/coordination.k8s.io/v1/namespaces/ops/leases"),
        (
            paths.lease("ops", "rollout-operator"),
            "/apis/coordination.k8s.io/v1/namespaces/ops/leases/rollout-operator",
        ),
    ],
)
def test_valid_names_give_exactly_the_expected_path(built: str, expected: str):
    assert built == expected
