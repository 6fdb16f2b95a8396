"""``python -m mien.cli`` runs the ``mien`` command."""

from mien.cli.main import app

app()
