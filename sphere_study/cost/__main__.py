"""``python -m sphere_study.cost calibrate REQUEST RESULTS``: the calibration child (see ``_calibrate``)."""

import sys

from ._calibrate import _child_main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "calibrate":
        print("usage: python -m sphere_study.cost calibrate REQUEST.json RESULTS.jsonl", file=sys.stderr)
        sys.exit(2)
    sys.exit(_child_main(sys.argv[2:]))
