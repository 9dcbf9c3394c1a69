"""schemathesis against the app's own OpenAPI schema, in process on Postgres, with a valid token: no
5xx and no response that breaks the schema."""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.api.conftest import ADMIN_TOKEN, Api

# Fuzzed once, on Postgres (the API suite itself runs on both databases).
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]
NO_5XX = [not_a_server_error, content_type_conformance]
SCHEMA = [response_schema_conformance]
EXAMPLES_PER_OPERATION = 25


def fuzz_operation(operation: Any, tried: list[int], checks: list[Any]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        if case.path.endswith("/events"):
            case.query = {**(case.query or {}), "after": "0"}  # a live stream of a running job never ends
        tried.append(1)
        case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=checks)

    run()


def fuzz_all(api: Api, database_url: str, checks: list[Any]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    tried: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20
    for operation in operations:
        fuzz_operation(operation, tried, checks)
    print(f"schemathesis: {len(operations)} operations, {len(tried)} requests, 0 failures")


def test_fuzz_every_route_no_5xx(api: Api, database_url: str) -> None:
    fuzz_all(api, database_url, NO_5XX)


def test_fuzz_every_route_responses_match_schema(api: Api, database_url: str) -> None:
    fuzz_all(api, database_url, SCHEMA)
