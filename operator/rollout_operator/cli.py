"""`rollout-operator run`: flags → RBAC preflight → kopf runs our runtime until stopped."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence

from . import __version__, logs, metrics
from .api import Api, ApiError
from .conflicts import ConflictSettings
from .controller import ControllerSettings
from .kubeconfig import ConfigError, Connection, in_cluster, load_connection, own_namespace
from .leader import LeaseConfig
from .paths import InvalidNameError, check_name
from .permissions import Access, StartupPlan, plan_startup, questions, review_body
from .plugin.main import main as plugin_main
from .rbac import HASH_KEY_SECRET, LEADER_ELECTION_ID
from .runtime import Runtime, RuntimeSettings
from .serving import PortInUseError, State, serve

#: How often an operator with nothing it may watch asks again (RBAC has no watch for "can-i").
RBAC_RECHECK_SECONDS = 30

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout-operator",
        description="Kubernetes operator for Rollout resources: set images, restart on "
        "ConfigMap/Secret changes, and report progress as `kubectl rollout status` does.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("rollouts", help="the kubectl plugin: `rollout-operator rollouts --help`")
    run = commands.add_parser(
        "run",
        help="run the operator against the current kube context (in-cluster config first)",
        description="Run the operator. Uses the in-cluster ServiceAccount when inside a pod, "
        "else $KUBECONFIG or ~/.kube/config (its current context).",
    )
    add = run.add_argument
    add("-n", "--namespace", action="append", default=[], metavar="NS",
        help="watch only this namespace (repeatable); default: all namespaces")  # fmt: skip
    add("--enable-secrets", action="store_true",
        help="also watch Secrets for spec.restartOnChangeOf.secrets (needs get/list/watch on "
        "secrets, and get/create of the hashing-key Secret in its own namespace)")  # fmt: skip
    add("--hash-key-secret", default=HASH_KEY_SECRET, metavar="NAME",
        help="Secret in the operator's namespace holding the key for Secret hashes; created "
        "on first start (default: %(default)s)")  # fmt: skip
    add("--restart-debounce", type=float, default=1.0, metavar="SECONDS",
        help="quiet time after a ConfigMap/Secret edit before restarting, so several edits "
        "restart once (default: %(default)s)")  # fmt: skip
    add("--workers", type=int, default=8, help="concurrent reconciles (default: %(default)s)")
    add("--status-interval", type=float, default=5.0, metavar="SECONDS",
        help="least time between two status writes of one Rollout that only report progress; "
        "phase changes are written at once (default: %(default)s)")  # fmt: skip
    add("--conflict-threshold", type=int, default=3, metavar="N",
        help="after N reverts of a field a Rollout owns by another writer, each within "
        "--conflict-window of the last, stop writing it back (default: %(default)s)")  # fmt: skip
    add(
        "--conflict-window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="see --conflict-threshold (default: %(default)s)",
    )
    add("--metrics-port", type=int, default=8080, metavar="PORT",
        help="serve Prometheus metrics at /metrics; 0 disables (default: %(default)s)")  # fmt: skip
    add("--health-port", type=int, default=8081, metavar="PORT",
        help="serve /healthz (liveness) and /readyz (readiness); 0 disables "
        "(default: %(default)s)")  # fmt: skip
    add("--bind-address", default=None, metavar="ADDR",
        help="address for the metrics and health servers (default: 0.0.0.0 in a pod, "
        "127.0.0.1 elsewhere)")  # fmt: skip
    add(
        "--leader-elect",
        action="store_true",
        help="act only while holding a Lease, so that two replicas never act at once "
        "(every shipped install passes it, HA or not)",
    )
    add("--leader-election-id", default=LEADER_ELECTION_ID, metavar="NAME",
        help="name of the Lease; the shipped RBAC grants this name only "
        "(default: %(default)s)")  # fmt: skip
    add(
        "--leader-election-namespace",
        default=None,
        metavar="NS",
        help="namespace of the Lease (default: the operator's own, $POD_NAMESPACE)",
    )
    add("--lease-duration", type=float, default=15.0, metavar="SECONDS",
        help="how long a Lease outlives its last renewal: the failover time after a crash "
        "(default: %(default)s)")  # fmt: skip
    add("--log-format", choices=("text", "json"), default="text",
        help="log format (default: %(default)s)")  # fmt: skip
    add("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _identity() -> str:
    """Who this replica is, without a passwd entry (uid 65532 has none in real clusters)."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _operator_namespace(args: argparse.Namespace) -> str | None:
    return args.leader_election_namespace or own_namespace()


def _check_names(args: argparse.Namespace) -> None:
    """Names from flags become URL paths too: refuse bad ones before any request."""
    named = [
        ("--hash-key-secret", args.hash_key_secret),
        ("--leader-election-id", args.leader_election_id),
    ]
    named += [("--namespace", ns) for ns in args.namespace]
    if args.leader_election_namespace is not None:
        named.append(("--leader-election-namespace", args.leader_election_namespace))
    for flag, value in named:
        try:
            check_name(value, flag)
        except InvalidNameError as error:
            raise SystemExit(f"rollout-operator run: {error}") from None


def _settings(args: argparse.Namespace, plan: StartupPlan) -> RuntimeSettings:
    namespace = _operator_namespace(args)
    leader = None
    if args.leader_elect:
        if namespace is None:
            raise SystemExit("--leader-elect needs --leader-election-namespace (or $POD_NAMESPACE)")
        renew = max(2.0, args.lease_duration * 2 / 3)
        leader = LeaseConfig(
            namespace, args.leader_election_id, _identity(), args.lease_duration, renew, 2.0
        )
    hash_key = None
    if plan.secrets:
        if namespace is None:
            raise SystemExit(
                "--enable-secrets needs the operator's namespace for its key Secret "
                "(set $POD_NAMESPACE or --leader-election-namespace)"
            )
        hash_key = (namespace, args.hash_key_secret)
    return RuntimeSettings(
        controller=ControllerSettings(
            secrets_enabled=plan.secrets,
            restart_debounce=args.restart_debounce,
            workers=args.workers,
            instance=_identity(),
            status_interval=args.status_interval,
            conflicts=ConflictSettings(args.conflict_threshold, args.conflict_window),
        ),
        namespaces=plan.namespaces,
        leader=leader,
        hash_key=hash_key,
    )


async def _can_i(api: Api, access: Access) -> bool:
    review = await api.create(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review_body(access)
    )
    return bool((review.get("status") or {}).get("allowed"))


async def preflight(api: Api, args: argparse.Namespace) -> StartupPlan:
    """Check RBAC; with nothing watchable, stay up (healthy) and ask again until fixed."""
    while True:
        own = _operator_namespace(args)
        checks = questions(
            args.namespace, args.enable_secrets, own_namespace=own, leader_elect=args.leader_elect
        )
        try:
            ordered = list(checks)
            results = await asyncio.gather(*(_can_i(api, a) for a in ordered))
            answers = dict(zip(ordered, results, strict=True))
        except ApiError as error:
            log.error("Cannot ask the apiserver about permissions: %s", error)
            answers = {}
        plan = plan_startup(
            args.namespace,
            args.enable_secrets,
            answers,
            own_namespace=own,
            leader_elect=args.leader_elect,
        )
        for message in plan.warnings:
            log.warning("%s", message)
        for message in plan.errors:
            log.error("%s", message)
        if plan.namespaces:
            where = ", ".join(ns or "all namespaces" for ns in plan.namespaces)
            log.info("Watching %s (Secrets: %s)", where, "yes" if plan.secrets else "no")
            return plan
        log.error("Nothing to watch; checking permissions again in %ds", RBAC_RECHECK_SECONDS)
        await asyncio.sleep(RBAC_RECHECK_SECONDS)


async def main_task(args: argparse.Namespace, connection: Connection) -> None:
    """Everything the operator does, from the first request to the last."""
    bind = args.bind_address or ("0.0.0.0" if in_cluster() else "127.0.0.1")
    async with Api(
        connection, pool_size=max(args.workers * 2, 10), observe=metrics.observe_request
    ) as api:
        state = State(api)
        runners = await serve(
            state, bind=bind, metrics_port=args.metrics_port, health_port=args.health_port
        )
        try:
            plan = await preflight(api, args)
            runtime = Runtime(api, _settings(args, plan), state)
            metrics.REGISTRY.register(metrics.RolloutCollector(runtime.rollouts))
            metrics.QUEUE_DEPTH.set_function(
                lambda: len(runtime.controller.queue) if runtime.controller else 0
            )
            await runtime.run()
        finally:
            for runner in runners:
                await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    """Start the operator and block until it stops (SIGINT/SIGTERM) or fails."""
    logs.configure(args.log_format, args.verbose)
    _check_names(args)
    try:
        connection = load_connection()
    except ConfigError as error:
        log.error("%s", error)
        return 1
    from .launch import run_under_kopf  # noqa: PLC0415  (the plugin never imports kopf)

    failure = run_under_kopf(lambda: main_task(args, connection), connection, _identity())
    if isinstance(failure, PortInUseError):
        log.error("%s", failure)
        return 1
    if failure is not None:
        log.error("The operator failed: %s", failure, exc_info=failure)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["rollouts"]:  # the kubectl plugin, for images that have no kubectl
        return plugin_main(argv[1:], prog="rollout-operator rollouts")
    args = _parser().parse_args(argv)
    if args.command == "run":
        return run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
