"""`rollout-operator run`: parse flags, wire the controller into kopf, serve metrics."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.server
import logging
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import kopf
from prometheus_client import start_http_server

from . import __version__
from .controller import Controller, ControllerSettings
from .handlers import build_registry
from .kube import Kube, load_api_client
from .permissions import StartupPlan, check_all
from .plugin.main import main as plugin_main

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
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    run.add_argument(
        "--enable-secrets",
        action="store_true",
        help="also watch Secrets for spec.restartOnChangeOf.secrets "
        "(needs get/list/watch on secrets)",
    )
    run.add_argument(
        "--restart-debounce",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="quiet time after a ConfigMap/Secret edit before restarting, so several edits "
        "restart once (default: %(default)s)",
    )
    run.add_argument(
        "--workers", type=int, default=8, help="concurrent reconciles (default: %(default)s)"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        metavar="PORT",
        help="serve Prometheus metrics on this port at /metrics; 0 disables (default: %(default)s)",
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=8081,
        metavar="PORT",
        help="serve the liveness probe on this port at /healthz; 0 disables (default: %(default)s)",
    )
    run.add_argument(
        "--bind-address",
        default="0.0.0.0",
        metavar="ADDR",
        help="address for the metrics and health servers (default: %(default)s)",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="run highly available: replicas sharing this kopf peering name elect one active "
        "operator (needs the peering CRDs from manifests/); default: standalone",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log format (default: %(default)s)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def run(args: argparse.Namespace) -> int:
    """Start the operator and block until it stops."""
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    if not args.verbose:
        # kopf logs every watch event's handler at INFO: thousands of lines on a big
        # cluster. Handler errors are WARNING and above, and still show.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings = ControllerSettings(
        secrets_enabled=args.enable_secrets,
        restart_debounce=args.restart_debounce,
        workers=args.workers,
    )
    kube = Kube(load_api_client(pool_size=max(args.workers * 2, 10)))
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.bind_address)
    plan = _wait_for_permissions(kube, args)
    controller = Controller(kube, dataclasses.replace(settings, secrets_enabled=plan.secrets))
    liveness = (
        f"http://{args.bind_address}:{args.health_port}/healthz" if args.health_port else None
    )
    kopf.run(
        registry=build_registry(controller),
        clusterwide=plan.namespaces == ("",),
        namespaces=[ns for ns in plan.namespaces if ns],
        standalone=args.peering is None,
        peering_name=args.peering,
        # Distinct priorities make exactly one replica active; equal ones would all act.
        priority=random.randint(1, 2**31) if args.peering else 0,
        liveness_endpoint=liveness,
    )
    return 0


def _wait_for_permissions(kube: Kube, args: argparse.Namespace) -> StartupPlan:
    """Check RBAC; with nothing watchable, stay alive (healthy) and re-check until fixed."""
    with _interim_health_server(args):
        while True:
            plan = check_all(args.namespace, args.enable_secrets, kube.can_i)
            for message in plan.warnings:
                log.warning("%s", message)
            for message in plan.errors:
                log.error("%s", message)
            if plan.namespaces:
                where = ", ".join(ns or "all namespaces" for ns in plan.namespaces)
                log.info("Watching %s (Secrets: %s)", where, "yes" if plan.secrets else "no")
                return plan
            log.error("Nothing to watch; checking permissions again in %ds", RBAC_RECHECK_SECONDS)
            time.sleep(RBAC_RECHECK_SECONDS)


@contextlib.contextmanager
def _interim_health_server(args: argparse.Namespace) -> Iterator[None]:
    """Answer /healthz until kopf's own endpoint takes the port over."""
    if not args.health_port:
        yield
        return

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"waiting for RBAC\n")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((args.bind_address, args.health_port), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


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
