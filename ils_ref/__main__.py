"""``python -m ils_ref`` is the ``ils-ref`` command line."""

import sys

from .cli import main

sys.exit(main())
