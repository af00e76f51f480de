"""``python -m sphere_study.plots``: the same as ``sphere-study plot``."""

import sys

from ._cli import plot_main

if __name__ == "__main__":
    sys.exit(plot_main())
