"""Discovery of the ConfigMaps/Secrets a pod template references: every form, one table."""

import random

import pytest

from rollout_operator.references import (
    IGNORE_ANNOTATION,
    Reference,
    discover,
    is_ignored,
)

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")


def template(volumes=(), **containers):
    """A pod template; `containers` maps a container field to its list."""
    return {"metadata": {"labels": {"app": "x"}}, "spec": {"volumes": list(volumes), **containers}}


def container(name="app", env=(), env_from=()):
    return {"name": name, "image": "app:v1", "env": list(env), "envFrom": list(env_from)}


def with_optional(source, optional):
    return source if optional is None else {**source, "optional": optional}


# (form, build(optional) -> pod template, kind, where)
VOLUME_FORMS = [
    (
        "volume configMap",
        lambda o: template([{"name": "v", "configMap": with_optional({"name": "x"}, o)}]),
        "ConfigMap",
        "volumes[v].configMap",
    ),
    (
        "volume secret",
        lambda o: template([{"name": "v", "secret": with_optional({"secretName": "x"}, o)}]),
        "Secret",
        "volumes[v].secret",
    ),
    (
        "projected configMap",
        lambda o: template(
            [
                {
                    "name": "v",
                    "projected": {"sources": [{"configMap": with_optional({"name": "x"}, o)}]},
                }
            ]
        ),
        "ConfigMap",
        "volumes[v].projected.configMap",
    ),
    (
        "projected secret",
        lambda o: template(
            [{"name": "v", "projected": {"sources": [{"secret": with_optional({"name": "x"}, o)}]}}]
        ),
        "Secret",
        "volumes[v].projected.secret",
    ),
]


def _container_forms(field):
    def env(kind_ref):
        return lambda o: template(
            **{
                field: [
                    container(
                        env=[
                            {
                                "name": "VAR",
                                "valueFrom": {
                                    kind_ref: with_optional({"name": "x", "key": "k"}, o)
                                },
                            }
                        ]
                    )
                ]
            }
        )

    def env_from(kind_ref):
        return lambda o: template(
            **{field: [container(env_from=[{kind_ref: with_optional({"name": "x"}, o)}])]}
        )

    return [
        (
            f"{field} envFrom configMapRef",
            env_from("configMapRef"),
            "ConfigMap",
            f"{field}[app].envFrom",
        ),
        (f"{field} envFrom secretRef", env_from("secretRef"), "Secret", f"{field}[app].envFrom"),
        (
            f"{field} env configMapKeyRef",
            env("configMapKeyRef"),
            "ConfigMap",
            f"{field}[app].env[VAR]",
        ),
        (f"{field} env secretKeyRef", env("secretKeyRef"), "Secret", f"{field}[app].env[VAR]"),
    ]


ALL_FORMS = VOLUME_FORMS + [f for field in CONTAINER_FIELDS for f in _container_forms(field)]


@pytest.mark.parametrize(
    ("form", "build", "kind", "where"), ALL_FORMS, ids=[f[0] for f in ALL_FORMS]
)
@pytest.mark.parametrize(
    ("optional", "expected_optional"), [(None, False), (False, False), (True, True)]
)
def test_every_reference_form_is_found_with_its_optional_flag(
    form, build, kind, where, optional, expected_optional
):
    assert discover(build(optional)) == (Reference(kind, "x", expected_optional, (where,)),)


@pytest.mark.parametrize("volume_optional", [True, False])
def test_referenced_both_optionally_and_required_is_required(volume_optional):
    # volumes are read before containers: both orders of optional/required are covered
    volume = {"name": "v", "configMap": {"name": "x", "optional": volume_optional}}
    env_from = {"configMapRef": {"name": "x", "optional": not volume_optional}}
    (ref,) = discover(template([volume], initContainers=[container("init", env_from=[env_from])]))
    assert ref.optional is False
    assert ref.where == ("initContainers[init].envFrom", "volumes[v].configMap")


def test_optional_everywhere_stays_optional():
    pod = template(
        [{"name": "v", "configMap": {"name": "x", "optional": True}}],
        containers=[container(env_from=[{"configMapRef": {"name": "x", "optional": True}}])],
    )
    assert discover(pod) == (
        Reference("ConfigMap", "x", True, ("containers[app].envFrom", "volumes[v].configMap")),
    )


def test_one_entry_per_object_with_every_place_it_is_named_and_kinds_kept_apart():
    pod = template(
        [
            {"name": "cfg", "configMap": {"name": "app"}},
            {"name": "creds", "secret": {"secretName": "app"}},
        ],
        containers=[
            container(env_from=[{"configMapRef": {"name": "app"}}]),
            container(
                "sidecar",
                env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}}],
            ),
        ],
    )
    assert discover(pod) == (
        Reference(
            "ConfigMap",
            "app",
            False,
            ("containers[app].envFrom", "containers[sidecar].env[A]", "volumes[cfg].configMap"),
        ),
        Reference("Secret", "app", False, ("volumes[creds].secret",)),
    )


def test_result_is_sorted_hashable_and_independent_of_template_order():
    volumes = [{"name": f"v{i}", "configMap": {"name": f"cm-{i}"}} for i in range(5)]
    volumes += [{"name": f"s{i}", "secret": {"secretName": f"s-{i}"}} for i in range(5)]
    envs = [
        {"name": f"E{i}", "valueFrom": {"secretKeyRef": {"name": f"e-{i}", "key": "k"}}}
        for i in range(5)
    ]
    first = discover(template(volumes, containers=[container(env=envs)]))
    random.Random(7).shuffle(volumes)
    random.Random(7).shuffle(envs)
    second = discover(template(volumes, containers=[container(env=envs)]))
    assert first == second
    assert hash(first) == hash(second)
    assert list(first) == sorted(first, key=lambda r: (r.kind, r.name))
    assert len({*first, *second}) == 15


@pytest.mark.parametrize(
    "pod",
    [
        template(),
        {},
        {"spec": None},
        template([{"name": "v", "configMap": {}}]),  # no name
        template([{"name": "v", "configMap": {"name": ""}}]),
        template([{"name": "v", "secret": {"name": "x"}}]),  # secret volumes use secretName
        template([{"name": "v", "emptyDir": {}}]),
        template([{"name": "v", "projected": {"sources": [{"downwardAPI": {"items": []}}, {"serviceAccountToken": {"path": "t"}}]}}]),
        template([{"name": "v", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "x"}}}]),
        template(containers=[container(env=[{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])]),
        {"spec": {"imagePullSecrets": [{"name": "regcred"}], "containers": [container()]}},
        template([None, "junk"], containers=[None, {"name": "app", "env": "junk", "envFrom": [None]}]),
    ],
    ids=[
        "empty", "no-spec", "null-spec", "no-name", "empty-name", "secret-volume-wrong-field",
        "emptyDir", "projected-non-config-sources", "csi-credentials", "plain-env-and-fieldRef",
        "imagePullSecrets", "malformed",
    ],
)  # fmt: skip
def test_what_is_not_a_config_reference(pod):
    assert discover(pod) == ()


@pytest.mark.parametrize(
    ("annotations", "ignored"),
    [
        ({IGNORE_ANNOTATION: "true"}, True),
        ({IGNORE_ANNOTATION: "True"}, True),
        ({IGNORE_ANNOTATION: "false"}, False),
        ({IGNORE_ANNOTATION: ""}, False),
        ({"reloader.stakater.com/ignore": "true"}, False),
        (None, False),
    ],
)
def test_ignore_annotation(annotations, ignored):
    assert is_ignored({"metadata": {"name": "x", "annotations": annotations}}) is ignored


def test_ignore_annotation_name():
    assert IGNORE_ANNOTATION == "rollout-operator.dev/ignore"
