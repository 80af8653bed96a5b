"""The plugin's command line: kubectl's flag habits, durations, and the pure core's imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rollout_operator.plugin.args import parse
from rollout_operator.plugin.durations import format_age, format_duration, parse_duration
from rollout_operator.plugin.exitcodes import ExitCode


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("45", 45),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("1.5s", 1.5),
        ("500ms", 0.5),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "1m 2s", "-1s", "s5"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_format_duration_and_age():
    assert format_duration(90) == "1m30s"
    assert format_duration(0.5) == "0.5s"
    assert [format_age(s) for s in (5, 119, 600, 4 * 3600, 3 * 86400)] == [
        "5s",
        "119s",
        "10m",
        "4h",
        "3d",
    ]


def test_status_flags_like_kubectl():
    args = parse(["status", "web", "db", "-n", "team", "--timeout=2m", "--watch=false"])
    assert (args.names, args.namespace, args.timeout, args.watch) == (
        ["web", "db"],
        "team",
        120,
        False,
    )
    # A bare --watch never swallows the next word (pflag's rule for booleans).
    args = parse(["status", "--watch", "web"])
    assert (args.names, args.watch) == (["web"], True)


def test_connection_flags_before_or_after_the_command():
    before = parse(["--kubeconfig", "k", "--context", "c", "-n", "x", "get", "web"])
    after = parse(["get", "web", "--kubeconfig", "k", "--context", "c", "-n", "x"])
    for args in (before, after):
        assert (args.kubeconfig, args.context, args.namespace) == ("k", "c", "x")
    assert parse(["get", "web"]).namespace is None


def test_commands_parse():
    assert parse(["set", "image", "web", "app=:v2", "side=proxy:1"]).changes == [
        "app=:v2",
        "side=proxy:1",
    ]
    assert parse(["undo", "web", "--to-revision", "3"]).to_revision == 3
    assert parse(["history", "web", "--revision=2"]).revision == 2
    assert parse(["list", "-A", "-l", "team=web"]).all_namespaces is True


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],  # neither names nor a selector
        ["status", "web", "-l", "a=b"],  # both
        ["status", "web", "--timeout", "soon"],
        ["status", "web", "--watch=maybe"],
        ["undo", "web", "--to-revision", "0"],
        ["set", "image", "web"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == ExitCode.USAGE == 2
    assert "error" in capsys.readouterr().err


def test_help_documents_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = capsys.readouterr().out
    for code in ExitCode:
        assert f"\n  {int(code)}  " in text


PURE = ["judge", "edits", "render", "args", "durations", "exitcodes"]


def test_pure_core_imports_no_client_library():
    """The core must stay testable (and importable) without kopf, aiohttp or kubernetes."""
    code = (
        "import sys\n"
        + "".join(f"import rollout_operator.plugin.{m}\n" for m in PURE)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'kopf', 'aiohttp', 'kubernetes', 'yarl'} or m.endswith(('.api', '.cluster')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
