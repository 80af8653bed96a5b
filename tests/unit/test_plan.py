import pytest

from rollout_operator.names import RESTART_ANNOTATION
from rollout_operator.plan import (
    Plan,
    apply_plan,
    image_changes,
    restart_annotation,
    restart_trigger,
    restarted_at_due,
)
from rollout_operator.spec import InvalidSpecError, parse_spec


def workload(images=None, init=None, annotation=None, rv="7"):
    meta = {"annotations": {RESTART_ANNOTATION: annotation}} if annotation else {}
    return {
        "metadata": {"name": "server", "generation": 3, "resourceVersion": rv},
        "spec": {
            "template": {
                "metadata": meta,
                "spec": {
                    "containers": [
                        {"name": n, "image": i} for n, i in (images or {"server": "app:v1"}).items()
                    ],
                    "initContainers": [{"name": n, "image": i} for n, i in (init or {}).items()],
                },
            }
        },
    }


def spec(containers=(), **extra):
    return parse_spec(
        {
            "targetRef": {"kind": "Deployment", "name": "server"},
            "containers": list(containers),
            **extra,
        }
    )


def plan_of(spec_, workload_):
    return Plan(image_changes(spec_, workload_))


def test_equal_image_plans_no_write():
    plan = plan_of(spec([{"name": "server", "image": "app:v1"}]), workload())
    assert not plan.needs_write
    assert plan.patch("7") == {"metadata": {"resourceVersion": "7"}, "spec": {"template": {}}}


def test_new_image_patches_only_that_container_with_precondition():
    plan = plan_of(
        spec([{"name": "server", "image": "app:v2"}]),
        workload({"server": "app:v1", "sidecar": "proxy:1"}),
    )
    assert plan.patch("7") == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "app:v2"}]}}},
    }


def test_tag_mode_keeps_registry_port_and_init_containers_are_found_by_name():
    plan = plan_of(
        spec([{"name": "migrate", "tag": "v9"}]),
        workload(init={"migrate": "reg.local:5000/tools/migrate:v8"}),
    )
    assert plan.patch(None) == {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {"name": "migrate", "image": "reg.local:5000/tools/migrate:v9"}
                    ]
                }
            }
        }
    }


def test_unknown_container_lists_what_the_workload_has():
    with pytest.raises(
        InvalidSpecError, match=r"no container named 'web'; it has: server, sidecar"
    ) as info:
        image_changes(
            spec([{"name": "web", "tag": "v2"}]), workload({"server": "a", "sidecar": "b"})
        )
    assert info.value.reason == "ContainerNotFound"


T1, T2 = "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"


@pytest.mark.parametrize(
    ("restarted_at", "baseline", "annotation", "adopted", "due"),
    [
        (None, None, None, True, False),  # nothing asked
        (T1, None, None, False, False),  # first sight: the value found is the baseline
        (T1, f"config=x restartedAt={T1}", None, True, False),  # unchanged since adoption
        (T2, f"config=x restartedAt={T1}", None, True, True),  # a new value: restart once
        (T2, "config=x", None, True, True),  # set later on a workload that had none
        (T2, f"restartedAt={T1}", f"restartedAt={T2}", True, False),  # written, status not yet
    ],
)
def test_restarted_at_rules(restarted_at, baseline, annotation, adopted, due):
    assert restarted_at_due(restarted_at, baseline, annotation, adopted=adopted) is due


def test_restart_trigger_and_apply_plan():
    value = restart_trigger("b" * 64, T1)
    assert value == f"config={'b' * 16} restartedAt={T1}"
    plan = Plan((), value)
    after = apply_plan(workload(annotation="config=x"), plan)
    assert restart_annotation(after) == value
    assert after["metadata"]["generation"] == 4


def test_apply_plan_without_changes_keeps_generation():
    plan = plan_of(spec([{"name": "server", "image": "app:v1"}]), workload())
    assert apply_plan(workload(), plan)["metadata"]["generation"] == 3
