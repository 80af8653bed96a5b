import pytest

from rollout_operator.spec import ConfigRef, InvalidSpecError, parse_spec

TARGET = {"kind": "Deployment", "name": "server"}


def test_full_spec():
    spec = parse_spec(
        {
            "targetRef": TARGET,
            "containers": [{"name": "server", "image": "app:v2"}, {"name": "side", "tag": "v3"}],
            "restartOnChangeOf": {"configMaps": ["a", "a"], "secrets": ["s"]},
            "restartedAt": "now",
            "progressDeadlineSeconds": 30,
        }
    )
    assert spec.target == "Deployment/server"
    assert spec.configs == (ConfigRef("ConfigMap", "a"), ConfigRef("Secret", "s"))
    assert spec.progress_deadline_seconds == 30


@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        ({"targetRef": {"kind": "Deployment"}}, "InvalidSpec", "spec.targetRef.name is required"),
        (
            {"targetRef": {"kind": "CronJob", "name": "x"}},
            "UnsupportedTargetKind",
            "use one of Deployment",
        ),
        (
            {"targetRef": TARGET, "containers": [{"name": "a"}]},
            "InvalidSpec",
            "exactly one of 'image' or 'tag'",
        ),
        (
            {"targetRef": TARGET, "containers": [{"name": "a", "image": "x", "tag": "y"}]},
            "InvalidSpec",
            "exactly one",
        ),
        (
            {"targetRef": TARGET, "containers": [{"name": "a", "image": "x:"}]},
            "InvalidSpec",
            "invalid image",
        ),
        (
            {"targetRef": TARGET, "containers": [{"name": "a", "tag": "-x"}]},
            "InvalidSpec",
            "invalid image tag",
        ),
        (
            {
                "targetRef": TARGET,
                "containers": [{"name": "a", "tag": "1"}, {"name": "a", "tag": "2"}],
            },
            "InvalidSpec",
            "listed twice",
        ),
        ({"targetRef": TARGET, "progressDeadlineSeconds": 0}, "InvalidSpec", "positive integer"),
    ],
)
def test_invalid_specs_say_what_to_fix(spec, reason, message):
    with pytest.raises(InvalidSpecError, match=message) as info:
        parse_spec(spec)
    assert info.value.reason == reason


# Names that must never reach a URL path or a lookup: traversal, encoded slashes, look-alikes.
ATTACKS = [
    pytest.param("../../other/deployments/victim", id="dotdot-slash"),
    pytest.param("..", id="dotdot"),
    pytest.param(".", id="dot"),
    pytest.param("web/x", id="trailing-segment"),
    pytest.param("web/", id="trailing-slash"),
    pytest.param("/web", id="leading-slash"),
    pytest.param("..%2fvictim", id="dotdot-encoded-slash"),
    pytest.param("web%2Fx", id="encoded-slash"),
    pytest.param("%2e%2e", id="encoded-dotdot"),
    pytest.param("web\\x", id="backslash"),
    pytest.param("web?x=1", id="query"),
    pytest.param("web#x", id="fragment"),
    pytest.param("web x", id="space"),
    pytest.param("web\n", id="trailing-newline"),
    pytest.param("web\x00", id="nul"),
    pytest.param("w\u0435b", id="cyrillic-ie-lookalike"),
    pytest.param("\uff57eb", id="fullwidth-w"),
    pytest.param("web\u200b", id="zero-width-space"),
    pytest.param("we\u0431", id="cyrillic"),
    pytest.param("\u0662", id="arabic-indic-digit"),
    pytest.param("Web", id="uppercase"),
    pytest.param("-web", id="leading-dash"),
    pytest.param("web-", id="trailing-dash"),
    pytest.param("web.", id="trailing-dot"),
    pytest.param("web..x", id="empty-label"),
    pytest.param("a" * 254, id="254-chars"),
    pytest.param("a" * 10_000, id="10000-chars"),
    pytest.param("", id="empty"),
]
# Valid as a subdomain but not as a label (container names).
LABEL_ONLY_ATTACKS = [
    pytest.param("web.x", id="dot-in-label"),
    pytest.param("a" * 64, id="64-chars"),
]

NAME_FIELDS = {
    "targetRef.name": (
        lambda name: {"targetRef": {"kind": "StatefulSet", "name": name}},
        "spec.targetRef.name",
        "StatefulSet name",
    ),
    "containers[].name": (
        lambda name: {"targetRef": TARGET, "containers": [{"name": name, "tag": "v2"}]},
        "spec.containers[0].name",
        "container name",
    ),
    "configMaps[]": (
        lambda name: {"targetRef": TARGET, "restartOnChangeOf": {"configMaps": ["ok", name]}},
        "spec.restartOnChangeOf.configMaps[1]",
        "ConfigMap name",
    ),
    "secrets[]": (
        lambda name: {"targetRef": TARGET, "restartOnChangeOf": {"secrets": [name]}},
        "spec.restartOnChangeOf.secrets[0]",
        "Secret name",
    ),
}


@pytest.mark.parametrize("field", list(NAME_FIELDS))
@pytest.mark.parametrize("name", ATTACKS)
def test_every_name_field_rejects_what_kubernetes_rejects(field, name):
    build, where, what = NAME_FIELDS[field]
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(build(name))
    message = str(info.value)
    assert info.value.reason == "InvalidSpec"
    assert message.startswith(f"{where} "), message
    if name == "" and field in ("targetRef.name", "containers[].name"):
        assert message == f"{where} is required"
    else:
        assert f"is not a valid {what}: it must be a DNS-1123" in message
    # The message never echoes control or look-alike characters, and stays short.
    assert message.isascii(), message
    assert message.isprintable(), message
    assert len(message) < 400


@pytest.mark.parametrize("name", LABEL_ONLY_ATTACKS)
def test_container_names_are_labels(name):
    with pytest.raises(InvalidSpecError, match=r"container name: it must be a DNS-1123 label"):
        parse_spec({"targetRef": TARGET, "containers": [{"name": name, "tag": "v2"}]})
    # ...which the other fields accept (they are subdomains): the rule is per kind.
    parse_spec({"targetRef": {"kind": "Deployment", "name": name}})


@pytest.mark.parametrize(
    "name",
    ["a", "0", "web", "web-1", "a.b.c", "x" * 63, "a" * 253, ".".join(["a" * 63] * 3 + ["a" * 61])],
)
def test_valid_names_pass_every_field(name):
    for field, (build, _, _) in NAME_FIELDS.items():
        if field == "containers[].name" and ("." in name or len(name) > 63):
            continue
        parse_spec(build(name))


def test_long_names_are_cut_in_messages():
    with pytest.raises(InvalidSpecError, match=r"\.\.\. \(300 characters\)") as info:
        parse_spec({"targetRef": {"kind": "Deployment", "name": "a" * 300}})
    assert "a" * 61 not in str(info.value)


def test_lookalikes_are_shown_escaped():
    with pytest.raises(InvalidSpecError, match=r"'w\\u0435b'"):
        parse_spec({"targetRef": {"kind": "Deployment", "name": "w\u0435b"}})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"targetRef": {"kind": "Deployment", "name": 7}}, "of type int is not a valid"),
        ({"targetRef": "web"}, "spec.targetRef must be an object"),
        ({"targetRef": TARGET, "containers": {"name": "a"}}, "spec.containers must be a list"),
        ({"targetRef": TARGET, "restartOnChangeOf": ["a"]}, "must be an object"),
        ({"targetRef": TARGET, "restartOnChangeOf": {"secrets": "a"}}, "must be a list of names"),
        ({"targetRef": TARGET, "restartOnChangeOf": {"secrets": [None]}}, "of type NoneType"),
    ],
)
def test_wrong_types_are_invalid_not_crashes(spec, message):
    with pytest.raises(InvalidSpecError, match=message):
        parse_spec(spec)
