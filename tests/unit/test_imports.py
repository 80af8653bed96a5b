"""The pure core stays pure: import-linter's contract (pyproject.toml) as part of `make unit`.

The contract forbids the core modules to import kopf, aiohttp, kubernetes, prometheus_client
or any shell module, directly or through another module. A second check makes every module
of the package take a side, so a new module cannot slip past the contract unclassified.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "rollout_operator"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def pure_core_contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "pure-core"]
    return contract


def test_the_pure_core_imports_no_runtime_client_or_shell_module():
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_every_module_is_either_pure_core_or_shell():
    contract = pure_core_contract()
    pure = set(contract["source_modules"])
    shell = {m for m in contract["forbidden_modules"] if m.startswith("rollout_operator.")}
    modules = {
        f"rollout_operator.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem != "__init__"
    } | {f"rollout_operator.{path.parent.name}" for path in PACKAGE.glob("*/__init__.py")}
    assert not pure & shell
    unclassified = sorted(modules - pure - shell)
    assert not unclassified, (
        f"{unclassified}: add each to [tool.importlinter] in pyproject.toml, as a pure core "
        "module (source_modules) or as a shell module (forbidden_modules)"
    )
