"""One module per scenario. Scenarios run in groups that share a fresh cluster each:
`small` (3 nodes), `scale` (room for every pod) and `big` (the side-by-side setup)."""

from __future__ import annotations

from . import (
    burst,
    config_restart,
    edit_latency,
    growth,
    ha,
    idle,
    many_rollouts,
    namespaced,
    profile,
    reaction,
    requests,
    scale,
    start_edits,
    startup,
)

#: name -> (group, title), in report order.
SCENARIOS: dict[str, tuple[str, str]] = {
    "reaction": ("small", reaction.TITLE),
    "config-restart": ("small", config_restart.TITLE),
    "requests": ("small", requests.TITLE),
    "scale": ("scale", scale.TITLE),
    "startup": ("scale", startup.TITLE),
    "rollouts-5000": ("scale", many_rollouts.TITLE),
    "start-edits": ("big", start_edits.TITLE),
    "idle": ("big", idle.TITLE),
    "edit-latency": ("big", edit_latency.TITLE),
    "burst": ("big", burst.TITLE),
    "ha": ("big", ha.TITLE),
    "namespaced": ("big", namespaced.TITLE),
    "profile": ("big", profile.TITLE),
    "growth": ("big", growth.TITLE),
}


def in_group(group: str) -> list[str]:
    return [name for name, (g, _) in SCENARIOS.items() if g == group]
