"""``python -m interaction_lake`` runs the command line."""

from interaction_lake.cli import entrypoint

entrypoint()
