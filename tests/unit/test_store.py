from rollout_operator.references import IGNORE_ANNOTATION
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


def meta(rv, annotations=None):
    return {"name": "agent", "namespace": "ns", "resourceVersion": rv, "annotations": annotations}


def test_config_first_sighting_is_a_baseline_and_later_versions_are_timed():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    assert store.put_config(key, meta("10"))
    assert store.configs[key].changed_at is None
    assert store.configs[key].current_hash is None  # content not fetched yet
    store.put_config_hash(key, "10", "sha256:aa")
    assert store.configs[key].current_hash == "sha256:aa"
    assert not store.put_config(key, meta("10"))  # the echo of what we hold: no news
    assert not store.put_config(key, meta("9"))  # an older copy
    assert store.put_config(key, meta("11"))
    assert store.configs[key].changed_at is not None
    assert store.configs[key].current_hash is None  # version moved: fetch again
    assert store.referenced(key) == {("ns", "r")}


def test_config_ignore_annotation_and_deletion_are_recorded():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("10", {IGNORE_ANNOTATION: "true"}))
    assert store.configs[key].ignored
    assert store.put_config(key, None)
    assert store.configs[key].version is None
    assert not store.put_config(key, None)


def test_a_fetched_hash_older_than_the_watched_version_is_not_current():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("12"))
    store.put_config_hash(key, "11", "sha256:old")  # a GET answered before the edit
    assert store.configs[key].current_hash is None
    store.put_config_hash(key, "13", "sha256:new")  # a GET after yet another edit
    assert store.configs[key].version == "13"
    assert store.configs[key].current_hash == "sha256:new"


def test_the_echo_of_our_own_write_is_not_news():
    store = Store()
    store.put_rollout(rollout("r", rv="7"))
    assert store.put_rollout(rollout("r", rv="7")) == set()
    key = ("ns", "Deployment", "server")
    assert store.put_workload(key, deployment(rv="20"))
    assert not store.put_workload(key, deployment(rv="20"))


def test_sweep_turns_objects_missing_from_a_list_into_deletions():
    store = Store()
    store.put_rollout(rollout("g1", configs=["agent"], rv="5"))
    store.put_rollout(rollout("other", target="x", rv="6", created="2026-11-25T09:00:00Z"))
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("10"))
    # The list (at version 100) no longer has g1: it was deleted while no watch was open.
    affected = store.sweep("Rollout", None, {("ns", "other")}, "100")
    assert ("ns", "g1") not in store.rollouts
    assert ("ns", "other") in store.rollouts
    assert affected == set()  # nobody else shared g1's objects
    assert key not in store.configs  # unreferenced now


def test_sweep_marks_referenced_objects_absent_and_wakes_their_rollouts():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("10"))
    store.put_workload(("ns", "Deployment", "server"), deployment(rv="11"))
    assert store.sweep("ConfigMap", "ns", set(), "100") == {("ns", "r")}
    assert store.configs[key].version is None
    assert store.sweep("Deployment", None, {("ns", "server")}, "100") == set()
    assert store.workloads[("ns", "Deployment", "server")] is not None


def test_sweep_keeps_what_was_fetched_after_the_list_was_taken():
    store = Store()
    store.put_rollout(rollout("r"))
    store.put_workload(("ns", "Deployment", "server"), deployment(rv="150"))
    assert store.sweep("Deployment", None, set(), "100") == set()
    assert store.workloads[("ns", "Deployment", "server")] is not None
    assert store.sweep("Deployment", "other-namespace", set(), "200") == set()
    assert store.sweep("Deployment", None, set(), "200") == {("ns", "r")}
    assert store.workloads[("ns", "Deployment", "server")] is None


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
    assert slim["metadata"] == {
        "name": "s",
        "namespace": "ns",
        "generation": 2,
        "imageManagers": {},
    }
    assert slim["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "i"}]
    assert slim["spec"]["selector"] == {}  # to find the new pods when a rollout fails
    assert "volumes" not in slim["spec"]["template"]["spec"]


def deployment_with_volumes(rv, *configmaps):
    body = deployment(rv=rv)
    body["spec"]["template"] = {
        "spec": {
            "containers": [{"name": "app", "image": "a"}],
            "volumes": [{"name": n, "configMap": {"name": n}} for n in configmaps],
        }
    }
    return body


def test_auto_discovered_configs_are_indexed_and_follow_the_template():
    store = Store()
    body = rollout("r")
    body["spec"]["restartOnChangeOf"]["auto"] = {"configMaps": True}
    store.put_rollout(body)
    key = ("ns", "Deployment", "server")
    store.put_workload(key, deployment_with_volumes("10", "one", "two"))
    assert store.config_refs(("ns", "r")) == [
        ("ns", "ConfigMap", "one"),
        ("ns", "ConfigMap", "two"),
    ]
    assert store.referenced(("ns", "ConfigMap", "one")) == {("ns", "r")}
    store.put_config(("ns", "ConfigMap", "one"), meta("5"))
    store.put_workload(key, deployment_with_volumes("11", "two", "three"))  # template changed
    assert store.config_refs(("ns", "r")) == [
        ("ns", "ConfigMap", "three"),
        ("ns", "ConfigMap", "two"),
    ]
    assert ("ns", "ConfigMap", "one") not in store.configs  # no longer referenced: dropped
    # without auto, the template's references are not watched
    plain = Store()
    plain.put_rollout(rollout("r"))
    plain.put_workload(key, deployment_with_volumes("10", "one"))
    assert plain.config_refs(("ns", "r")) == []


def test_sweep_keeps_a_config_fetched_after_the_list_was_taken():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("10"))
    store.put_config_hash(key, "150", "sha256:new")  # a GET answered after the list was taken
    assert store.sweep("ConfigMap", None, set(), "100") == set()
    assert store.configs[key].current_hash == "sha256:new"
    assert store.sweep("ConfigMap", None, set(), "200") == {("ns", "r")}  # a later list: gone
    assert store.configs[key].version is None


def test_sweep_keeps_a_rollout_newer_than_the_list():
    store = Store()
    store.put_rollout(rollout("r", rv="150"))  # e.g. the response of our status write
    assert store.sweep("Rollout", None, set(), "100") == set()
    assert ("ns", "r") in store.rollouts
    store.sweep("Rollout", None, set(), "200")
    assert ("ns", "r") not in store.rollouts


def test_sweeping_the_owner_of_a_workload_hands_it_to_the_next_rollout():
    store = Store()
    store.put_rollout(rollout("first", created="2026-11-25T10:00:00Z", rv="5"))
    store.put_rollout(rollout("second", created="2026-11-25T11:00:00Z", rv="6"))
    assert store.claimed_by(("ns", "second")) == "first"
    assert store.sweep("Rollout", None, {("ns", "second")}, "100") == {("ns", "second")}
    assert store.claimed_by(("ns", "second")) is None


def test_a_namespaced_list_sweeps_only_its_namespace():
    store = Store()
    store.put_rollout(rollout("r", configs=["agent"]))  # in namespace "ns"
    key = ("ns", "ConfigMap", "agent")
    store.put_config(key, meta("10"))
    assert store.sweep("Rollout", "elsewhere", set(), "100") == set()
    assert store.sweep("ConfigMap", "elsewhere", set(), "100") == set()
    assert ("ns", "r") in store.rollouts
    assert store.configs[key].version == "10"
