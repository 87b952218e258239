"""The security tests use the API tests' real alliance (node, contracts, API, signed-in cast)."""

from tests.api.conftest import alliance, api, cast, unchanged

__all__ = ["alliance", "api", "cast", "unchanged"]
