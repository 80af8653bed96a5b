"""The names this operator owns on the API server: one place, so nothing drifts."""

from typing import Final

GROUP: Final = "rollout-operator.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "Rollout"
PLURAL: Final = "rollouts"

#: Field manager for every write, so `managedFields` shows exactly what we own.
FIELD_MANAGER: Final = "rollout-operator"

#: The one pod-template annotation we write; changing its value restarts the pods.
RESTART_ANNOTATION: Final = f"{GROUP}/restart"

#: Workload kinds we can roll out, mapped to their apps/v1 plural.
WORKLOAD_PLURALS: Final = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
}
