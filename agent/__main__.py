"""``python -m agent`` is the ``mapay`` command."""

import sys

from agent.cli import main

sys.exit(main())
