"""``python -m mlplab``: the same entry point as the ``mlplab`` script."""

import sys

from .cli import main

sys.exit(main())
