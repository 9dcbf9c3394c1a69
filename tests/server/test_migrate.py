"""Migrations: upgrade is idempotent and leaves the schema equal to the ORM models, on both databases."""

from pathlib import Path

import pytest
from alembic import command

from server.migrate import alembic_config, current_revision, upgrade


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_upgrade_twice_matches_the_models(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("fresh_pg_url")) if kind == "postgres" else \
        f"sqlite:///{tmp_path / 'nested' / 'db.sqlite'}"
    if kind == "postgres":
        assert current_revision(url) is None
    upgrade(url)  # also creates the SQLite file's missing folders
    upgrade(url)
    assert current_revision(url) == "0002"
    command.check(alembic_config(url))  # raises when the models and the migrated schema differ
