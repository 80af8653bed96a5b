"""`python -m rollout_operator`."""

import sys

from .cli import main

sys.exit(main())
