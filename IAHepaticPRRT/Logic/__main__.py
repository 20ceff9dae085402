"""``python -m iahepaticprrt``: the same command line as ``iahprrt``."""

import sys

from .cli import main

sys.exit(main())
