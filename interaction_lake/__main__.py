"""``python -m interaction_lake`` runs the command line."""

import sys

from interaction_lake.cli import main

sys.exit(main())
