"""The Argo CD health check (gitops/argocd/.../health.lua) against its test cases.

Argo CD runs health scripts in gopher-lua (Lua 5.1) with the live object as the
global ``obj``; this runs the same script in Lua 5.1 through lupa, for every case
of health_test.yaml (Argo CD's own test-case format).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("lupa")

try:  # Lua 5.1, like Argo CD's gopher-lua; lupa's default build is newer.
    from lupa.lua51 import LuaRuntime, lua_type
except ImportError:  # pragma: no cover - depends on the lupa wheel
    from lupa import LuaRuntime, lua_type

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "gitops" / "argocd"
CHECK_DIR = ARGOCD / "rollout-operator.dev" / "Rollout"
HEALTH_LUA = CHECK_DIR / "health.lua"
HEALTH_TESTS = CHECK_DIR / "health_test.yaml"
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def _cases() -> list[Any]:
    tests = yaml.safe_load(HEALTH_TESTS.read_text())["tests"]
    return [pytest.param(case, id=Path(case["inputPath"]).stem) for case in tests]


def _to_lua(lua: Any, value: Any) -> Any:
    """Python (decoded YAML) -> Lua value; lists become 1-based tables."""
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            if item is not None:  # JSON null is absent in Argo CD's Lua view
                table[key] = _to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = _to_lua(lua, item)
        return table
    return value


def _from_lua(value: Any) -> Any:
    if lua_type(value) == "table":
        return {key: _from_lua(item) for key, item in value.items()}
    return value


def run_health_check(obj: dict[str, Any]) -> dict[str, Any]:
    lua = LuaRuntime(unpack_returned_tuples=False)
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(HEALTH_LUA.read_text())
    assert lua_type(result) == "table", "health.lua must return a table"
    return _from_lua(result)


@pytest.mark.parametrize("case", _cases())
def test_health_case(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECK_DIR / case["inputPath"]).read_text())
    expected = case["healthStatus"]

    health = run_health_check(obj)

    assert health.get("status") == expected["status"]
    assert health.get("message") == expected["message"]
    assert set(health) <= {"status", "message"}


def test_every_sample_is_a_test_case() -> None:
    referenced = {
        (CHECK_DIR / case["inputPath"]).resolve()
        for case in yaml.safe_load(HEALTH_TESTS.read_text())["tests"]
    }
    samples = {path.resolve() for path in (CHECK_DIR / "testdata").glob("*.yaml")}
    assert samples, "no samples under testdata/"
    assert samples == referenced


def test_cases_cover_every_health_outcome() -> None:
    statuses = {case.values[0]["healthStatus"]["status"] for case in _cases()}
    assert statuses == {"Healthy", "Progressing", "Degraded"}
    assert statuses <= ARGO_STATUSES


def test_samples_are_rollouts() -> None:
    for path in sorted((CHECK_DIR / "testdata").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        assert obj["apiVersion"] == "rollout-operator.dev/v1alpha1", path.name
        assert obj["kind"] == "Rollout", path.name
        assert isinstance(obj["metadata"]["generation"], int), path.name


@pytest.mark.parametrize(
    ("generation", "observed", "expected"),
    [
        (7, 7, "Healthy"),
        (7, 6, "Progressing"),
        (7, 8, "Healthy"),  # never older than the spec: nothing to wait for
    ],
)
def test_generation_comparison_is_numeric(generation: int, observed: int, expected: str) -> None:
    obj = {
        "apiVersion": "rollout-operator.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "RolloutComplete",
                    "message": "done",
                    "observedGeneration": observed,
                }
            ],
        },
    }
    assert run_health_check(obj)["status"] == expected


def test_stalled_wins_over_ready() -> None:
    conditions = [
        {"type": "Ready", "status": "True", "message": "rolled out", "observedGeneration": 1},
        {"type": "Stalled", "status": "True", "message": "Forbidden", "observedGeneration": 1},
    ]
    obj = {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "conditions": conditions},
    }
    assert run_health_check(obj) == {"status": "Degraded", "message": "Forbidden"}


def test_readme_embeds_the_current_script() -> None:
    readme = (ARGOCD / "README.md").read_text()
    key = "resource.customizations.health.rollout-operator.dev_Rollout"
    match = re.search(rf"^  {re.escape(key)}: \|\n((?:    .*\n|\n)+?)```", readme, re.MULTILINE)
    assert match, f"README.md has no argocd-cm snippet with {key}"
    assert textwrap.dedent(match.group(1)).strip() == HEALTH_LUA.read_text().strip(), (
        "gitops/argocd/README.md's copy of health.lua is out of date"
    )
