"""Fault tests build Stacks of their own: they kill and restart processes the shared `stack` must keep."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import api, database_url  # noqa: F401 (fixtures for the schema fuzz)
from tests.faults.harness import private_stack
from tests.stack import Stack


@pytest.fixture(scope="module")
def fault_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory,
                artifacts_dir: Path) -> Iterator[Stack]:
    """API + one worker on a database and queue of this module's own."""
    with private_stack(tmp_path_factory.mktemp("faults"), artifacts_dir, broker_url=redis_url) as stack:
        yield stack
