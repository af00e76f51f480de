"""``python -m sphere_study`` is the ``sphere-study`` command."""

import sys

from .cli import main

sys.exit(main())
