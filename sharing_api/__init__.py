"""Sharing API, chain client, storage backends and the hospital SDK/CLI."""
