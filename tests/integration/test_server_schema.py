"""Property-based run: schemathesis generates requests from /openapi.json against the real
server; no answer may be a 500, and every answer must match its own documented schema."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from srllm.server.openapi import openapi_spec

schema = schemathesis.openapi.from_dict(openapi_spec())

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_conform_to_the_schema(case, server):
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        checks=CHECKS,
        timeout=120,
    )
