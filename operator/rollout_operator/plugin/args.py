"""The command line of `kubectl rollouts`, with kubectl's flag names and habits."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Final

from .durations import parse_duration
from .exitcodes import HELP

_TRUE: Final = {"true", "1", "yes", "t"}
_FALSE: Final = {"false", "0", "no", "f"}

DESCRIPTION: Final = (
    "Watch, inspect and change Rollouts (rollout-operator.dev) like `kubectl rollout` "
    "watches Deployments. Every change is written to the Rollout's spec; the operator "
    "carries it to the workload."
)

EXAMPLES: Final = """examples:
  kubectl rollouts set image server app=:3f2c1ab -n pr12er
  kubectl rollouts status server grafana-agent -n pr12er --timeout 5m
  kubectl rollouts status -l team=web --watch=false
  kubectl rollouts history server
  kubectl rollouts undo server --to-revision 3
"""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (use true or false)")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _revision(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid revision {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("revisions start at 1")
    return value


def normalize(argv: Sequence[str]) -> list[str]:
    """Bare `--watch`/`-w` means true; like kubectl, it never takes the next word as value."""
    return ["--watch=true" if arg in ("-w", "--watch") else arg for arg in argv]


def _connection_flags(defaults: bool) -> argparse.ArgumentParser:
    """--kubeconfig, --context, -n: accepted before and after the command.

    Subcommands use SUPPRESS defaults so a flag given before the command is not reset.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default = None if defaults else argparse.SUPPRESS
    group = parent.add_argument_group("cluster")
    group.add_argument(
        "--kubeconfig",
        default=default,
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )
    group.add_argument("--context", default=default, help="kubeconfig context to use")
    group.add_argument(
        "-n",
        "--namespace",
        default=default,
        metavar="NS",
        help="namespace (default: the context's namespace, else 'default')",
    )
    return parent


def _selector(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-l", "--selector", metavar="SELECTOR", help="label selector, e.g. app=web,tier!=db"
    )


def parser(prog: str = "kubectl rollouts") -> argparse.ArgumentParser:
    """The whole command line; `prog` is how the help names the command."""
    formatter = argparse.RawDescriptionHelpFormatter
    root = argparse.ArgumentParser(
        prog=prog,
        description=textwrap.fill(DESCRIPTION, 80),
        epilog=f"{EXAMPLES}\n{HELP}",
        formatter_class=formatter,
        parents=[_connection_flags(defaults=True)],
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    flags = _connection_flags(defaults=False)

    def command(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_,
            description=textwrap.fill(description, 80),
            epilog=HELP,
            formatter_class=formatter,
            parents=[flags],
        )

    status = command(
        "status",
        "wait until Rollouts are rolled out; exit 1 as soon as one fails",
        "Print progress lines (kubectl's wording) as they change, then exit 0 when every "
        "Rollout is Ready for its current generation. Exit 1 as soon as one is Failed, "
        "Blocked, RolledBack or Stalled, printing the reason, message and root cause.",
    )
    status.add_argument(
        "names", nargs="*", metavar="NAME", help="Rollouts to wait for (all of them)"
    )
    _selector(status)
    status.add_argument(
        "--timeout",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="give up after this long (e.g. 30s, 5m; 0 = no limit, the default); exits 3",
    )
    status.add_argument(
        "-w",
        "--watch",
        type=_bool,
        default=True,
        metavar="BOOL",
        help="--watch=false: look once and exit by the current state",
    )

    get = command(
        "get",
        "show one Rollout in detail",
        "Show a Rollout: phase, images of all "
        "containers, spec, conditions, rollback/conflict and history.",
    )
    get.add_argument("name", metavar="NAME")

    list_ = command(
        "list", "list Rollouts as a table", "One row per Rollout with every container's image."
    )
    _selector(list_)
    list_.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list Rollouts in every namespace"
    )

    set_ = command("set", "change a Rollout's spec", "Change a Rollout's spec.")
    set_commands = set_.add_subparsers(dest="what", required=True, metavar="WHAT")
    image = set_commands.add_parser(
        "image",
        help="set container images (spec.containers)",
        parents=[flags],
        formatter_class=formatter,
        epilog=HELP,
        description=textwrap.fill(
            "Set images in spec.containers, like `kubectl set image`: "
            "CONTAINER=IMAGE writes a full reference, CONTAINER=:TAG only a new tag.",
            80,
        ),
    )
    image.add_argument("name", metavar="NAME")
    image.add_argument("changes", nargs="+", metavar="CONTAINER=IMAGE|CONTAINER=:TAG")

    restart = command(
        "restart",
        "restart the workload once (sets spec.restartedAt)",
        "Set spec.restartedAt to now: the operator restarts the workload once, "
        "like `kubectl rollout restart`.",
    )
    restart.add_argument("name", metavar="NAME")

    history = command(
        "history",
        "list the recorded revisions",
        "List status.history like "
        "`kubectl rollout history`, with each revision's result and times.",
    )
    history.add_argument("name", metavar="NAME")
    history.add_argument("--revision", type=_revision, metavar="N", help="show revision N in full")

    undo = command(
        "undo",
        "ask for a previous revision's images again",
        "Write the images of a recorded revision into the Rollout's spec.containers (full "
        "references); the operator rolls them out. The workload is never edited directly. "
        "With GitOps, the Rollout now differs from its source: commit the same images, or "
        "the next sync puts the old spec back.",
    )
    undo.add_argument("name", metavar="NAME")
    undo.add_argument(
        "--to-revision",
        type=_revision,
        metavar="N",
        help="revision to restore (default: the previous one that ran other images)",
    )
    return root


def parse(argv: Sequence[str], prog: str = "kubectl rollouts") -> argparse.Namespace:
    """Parse `argv` (argparse exits 2 on a usage error) and check what argparse cannot."""
    root = parser(prog)
    args = root.parse_args(normalize(argv))
    if args.command == "status" and bool(args.names) == bool(args.selector):
        root.exit(2, f"{prog} status: error: give Rollout names or -l SELECTOR (one of them)\n")
    for key in ("kubeconfig", "context", "namespace"):
        if not hasattr(args, key):
            setattr(args, key, None)
    return args
