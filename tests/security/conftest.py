"""Security tests reuse the in-process API fixtures (real Postgres, then SQLite) of tests/api."""

from tests.api.conftest import alice, api, bob, client, database_url  # noqa: F401 (pytest fixtures)
