"""``python -m idp``: the same as the ``psc-mock`` console script."""

import sys

from idp.cli import main

sys.exit(main())
