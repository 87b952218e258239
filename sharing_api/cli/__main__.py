"""``python -m sharing_api.cli`` runs the `alliance` command."""

from sharing_api.cli.main import run

run()
