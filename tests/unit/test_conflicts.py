"""Who else writes a container's image: read from managedFields to name the other writer."""

from rollout_operator.conflicts import image_managers


def entry(manager, time, containers, init=False):
    field = "f:initContainers" if init else "f:containers"
    return {
        "manager": manager,
        "operation": "Update",
        "time": time,
        "fieldsV1": {"f:spec": {"f:template": {"f:spec": {field: {
            f'k:{{"name":"{name}"}}': {".": {}, "f:image": {}} for name in containers
        }}}}},
    }  # fmt: skip


def test_the_latest_other_manager_of_each_image_is_named_and_we_are_never():
    fields = [
        entry("kubectl-client-side-apply", "2026-11-25T09:00:00Z", ["app", "sidecar"]),
        entry("argocd-controller", "2026-11-25T10:00:00Z", ["app"]),
        entry("rollout-operator", "2026-11-25T11:00:00Z", ["app"]),
        entry("helm", "2026-11-25T08:00:00Z", ["migrate"], init=True),
        {"manager": "kube-controller-manager", "fieldsV1": {"f:status": {}}},
    ]
    assert image_managers(fields) == {
        "app": "argocd-controller",
        "sidecar": "kubectl-client-side-apply",
        "migrate": "helm",
    }
    assert image_managers(None) == {}
