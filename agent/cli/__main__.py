"""`python -m agent.cli`: the same as the `rosetta` command."""

import sys

from agent.cli import main

sys.exit(main())
