"""``python -m percepta`` (and ``torchrun -m percepta train ...``) runs the CLI."""

import sys

from .cli import main

sys.exit(main())
