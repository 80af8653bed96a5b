"""The plugin's exit codes: one meaning each, so a CI script can branch on them."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Documented in `docs/cli.md` and in `kubectl rollouts --help`."""

    #: Done: every Rollout is Ready for its current generation, or the edit was written.
    OK = 0
    #: The rollout failed (Failed, Blocked, RolledBack, Stalled), or the edit was refused
    #: (unknown container or revision, nothing to undo to).
    FAILED = 1
    #: Bad command line (argparse's own code).
    USAGE = 2
    #: Still progressing when the wait ended: --timeout elapsed, or --watch=false.
    NOT_DONE = 3
    #: No answer: Rollout not found, no match for a selector, kubeconfig, connection or
    #: permission error.
    ERROR = 4


HELP = """exit codes:
  0  done: every Rollout is Ready for its current generation / the change was written
  1  rollout failed (Failed, Blocked, RolledBack, Stalled) / change refused
  2  usage error
  3  still progressing when the wait ended (--timeout elapsed, or --watch=false)
  4  could not answer: Rollout not found, kubeconfig, connection or permission error"""
