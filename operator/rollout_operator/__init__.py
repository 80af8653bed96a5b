"""rollout-operator: declarative set-image, restart-on-config-change and rollout status."""

__version__ = "0.1.0"
