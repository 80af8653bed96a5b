from rollout_operator.store import Store, slim_workload


def rollout(name, target="server", created="2026-11-25T10:00:00Z", configs=(), rv="1"):
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "resourceVersion": rv,
        },
        "spec": {
            "targetRef": {"kind": "Deployment", "name": target},
            "restartOnChangeOf": {"configMaps": list(configs)},
        },
    }


def deployment(name="server", rv="5"):
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "spec": {}}


def test_older_rollout_owns_the_target_and_the_later_one_takes_over_after_delete():
    store = Store()
    store.put_rollout(rollout("first", created="2026-11-25T10:00:00Z"))
    affected = store.put_rollout(rollout("second", created="2026-11-25T11:00:00Z"))
    assert affected == {("ns", "second"), ("ns", "first")}
    assert store.claimed_by(("ns", "first")) is None
    assert store.claimed_by(("ns", "second")) == "first"
    assert store.delete_rollout("ns", "first") == {("ns", "second")}
    assert store.claimed_by(("ns", "second")) is None


def test_unreferenced_objects_are_not_kept():
    store = Store()
    assert not store.put_workload(("ns", "Deployment", "other"), deployment("other"))
    store.put_rollout(rollout("r"))
    key = ("ns", "Deployment", "server")
    assert store.put_workload(key, deployment())
    assert store.workloads[key] == slim_workload(deployment())
    store.delete_rollout("ns", "r")
    assert key not in store.workloads


def test_stale_workload_copies_are_ignored():
    store = Store()
    store.put_rollout(rollout("r"))
    key = ("ns", "Deployment", "server")
    assert store.put_workload(key, deployment(rv="10"))
    assert not store.put_workload(key, deployment(rv="9"))
    assert store.workloads[key]["metadata"]["resourceVersion"] == "10"


def test_config_first_sighting_is_a_baseline_and_edits_are_timed():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    assert store.put_config(key, {"data": {"a": "1"}})
    assert store.configs[key].changed_at is None
    assert not store.put_config(key, {"data": {"a": "1"}, "metadata": {"labels": {"x": "y"}}})
    assert store.put_config(key, {"data": {"a": "2"}})
    assert store.configs[key].changed_at is not None
    assert store.referenced(key) == {("ns", "r")}


def test_slim_workload_keeps_only_what_decisions_read():
    big = {
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "generation": 2,
            "labels": {"a": "b"},
            "managedFields": [{}],
        },
        "spec": {
            "replicas": 2,
            "selector": {},
            "template": {
                "metadata": {"labels": {"app": "s"}},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "env": [{"name": "X"}]}],
                    "volumes": [],
                },
            },
        },
        "status": {"replicas": 2},
    }
    slim = slim_workload(big)
    assert slim["metadata"] == {"name": "s", "namespace": "ns", "generation": 2}
    assert slim["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "i"}]
    assert "selector" not in slim["spec"]
