"""``python -m ils_ref`` is the ``ils-ref`` command line."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a child process of `ils-ref check` imports this module
    sys.exit(main())
