"""``python -m gumbelkit``."""

import sys

from gumbelkit.cli import main

sys.exit(main())
