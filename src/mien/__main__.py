"""``python -m mien`` runs the ``mien`` command."""

from mien.cli.main import app

app()
