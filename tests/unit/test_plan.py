import pytest

from rollout_operator.names import RESTART_ANNOTATION
from rollout_operator.plan import apply_plan, plan_workload, restart_trigger
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


def test_equal_image_plans_no_write():
    plan = plan_workload(
        spec([{"name": "server", "image": "app:v1"}]), workload(), None, None, adopted=False
    )
    assert not plan.needs_write
    assert plan.patch("7") == {"metadata": {"resourceVersion": "7"}, "spec": {"template": {}}}


def test_new_image_patches_only_that_container_with_precondition():
    plan = plan_workload(
        spec([{"name": "server", "image": "app:v2"}]),
        workload({"server": "app:v1", "sidecar": "proxy:1"}),
        None,
        None,
        adopted=False,
    )
    assert plan.patch("7") == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "app:v2"}]}}},
    }


def test_tag_mode_keeps_registry_port_and_init_containers_are_found_by_name():
    plan = plan_workload(
        spec([{"name": "migrate", "tag": "v9"}]),
        workload(init={"migrate": "reg.local:5000/tools/migrate:v8"}),
        None,
        None,
        adopted=False,
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
        plan_workload(
            spec([{"name": "web", "tag": "v2"}]),
            workload({"server": "a", "sidecar": "b"}),
            None,
            None,
            adopted=False,
        )
    assert info.value.reason == "ContainerNotFound"


@pytest.mark.parametrize(
    ("annotation", "adopted", "baseline", "config_hash", "restart"),
    [
        (None, False, None, "a" * 64, None),  # first sight: record, do not restart
        (None, True, f"config={'a' * 16}", "a" * 64, None),  # unchanged since adoption
        (None, True, f"config={'a' * 16}", "b" * 64, f"config={'b' * 16}"),  # changed since
        (None, True, None, "b" * 64, f"config={'b' * 16}"),  # first reference added later
        (f"config={'a' * 16}", False, None, "a" * 64, None),  # already written, same
        (f"config={'a' * 16}", False, None, "b" * 64, f"config={'b' * 16}"),  # changed while down
        (f"config={'a' * 16}", True, None, None, None),  # references removed: no restart
    ],
)
def test_restart_rules(annotation, adopted, baseline, config_hash, restart):
    plan = plan_workload(
        spec(), workload(annotation=annotation), config_hash, baseline, adopted=adopted
    )
    assert plan.restart == restart
    assert plan.trigger == restart_trigger(config_hash, None)


def test_restarted_at_is_part_of_the_trigger():
    plan = plan_workload(
        spec(restartedAt="2026-11-25T10:00:00Z"),
        workload(annotation="config=x"),
        None,
        "config=x",
        adopted=True,
    )
    assert plan.restart == "restartedAt=2026-11-25T10:00:00Z"
    after = apply_plan(workload(annotation="config=x"), plan)
    assert after["spec"]["template"]["metadata"]["annotations"][RESTART_ANNOTATION] == plan.restart
    assert after["metadata"]["generation"] == 4


def test_apply_plan_without_changes_keeps_generation():
    plan = plan_workload(
        spec([{"name": "server", "image": "app:v1"}]), workload(), None, None, adopted=False
    )
    assert apply_plan(workload(), plan)["metadata"]["generation"] == 3
