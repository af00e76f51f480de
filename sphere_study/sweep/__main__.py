"""``python -m sphere_study.sweep``: what the wandb agent runs (see :mod:`sphere_study.sweep`)."""

import sys

from ._cli import sweep_main

if __name__ == "__main__":
    sys.exit(sweep_main())
