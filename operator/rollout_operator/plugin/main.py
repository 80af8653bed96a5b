"""Entry point of `kubectl-rollouts` (and `rollout-operator rollouts`, `python -m
rollout_operator.plugin`): parse, run one command, turn every error into its exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .args import parse
from .cluster import ClusterError, InvalidNameError, connect
from .commands import COMMANDS, NotFoundError, Output
from .exitcodes import ExitCode


async def _run(args: argparse.Namespace, output: Output) -> int:
    try:
        async with connect(args.kubeconfig, args.context) as cluster:
            return int(await COMMANDS[args.command](args, cluster, output))
    except InvalidNameError as error:
        output.warn(f"error: {error}")
        return ExitCode.USAGE
    except NotFoundError as error:
        output.warn(f"Error from server (NotFound): {error}")
        return ExitCode.ERROR
    except ClusterError as error:
        output.warn(f"error: {error}")
        return ExitCode.ERROR


def main(argv: Sequence[str] | None = None, prog: str = "kubectl rollouts") -> int:
    """Run one command; returns the exit code (see exitcodes.py). Usage errors exit 2."""
    args = parse(sys.argv[1:] if argv is None else argv, prog)
    try:
        return asyncio.run(_run(args, Output()))
    except KeyboardInterrupt:
        return 130
