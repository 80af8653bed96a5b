"""`python -m rollout_operator.plugin ...`: the plugin where no kubectl is installed."""

import sys

from .main import main

sys.exit(main(prog="python -m rollout_operator.plugin"))
