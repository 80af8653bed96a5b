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
