"""The published OpenAPI document: valid, truthful about security and errors, and matched by what the
live service answers (schemathesis), including to hostile query and path parameters."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

Client = httpx.AsyncClient

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
async def published(api: Client) -> dict[str, Any]:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation) for path, item in schema["paths"].items()
            for method, operation in item.items()]


async def test_the_published_schema_is_valid_openapi(published: dict[str, Any]) -> None:
    validate(published)


async def test_every_operation_has_a_readable_unique_id(published: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in _operations(published)]
    assert all(ids), ids
    assert len(ids) == len(set(ids))
    assert {"createCustomer", "listCustomers", "getCustomer", "createDeposit", "createWithdrawal",
            "receiveSumsubCallback", "createKycLink", "getMyProfile"} <= set(ids)
    assert all(i[0].islower() and "_" not in i for i in ids), ids


async def test_security_is_stated_per_route_as_it_really_is(published: dict[str, Any]) -> None:
    assert "security" not in published, "no global requirement: each route states its own"
    schemes = published["components"]["securitySchemes"]
    assert schemes["operator"]["type"] == "openIdConnect"
    assert schemes["operator"]["openIdConnectUrl"].endswith("/.well-known/openid-configuration")
    assert schemes["customer"]["type"] == "openIdConnect"
    assert {schemes["payloadDigest"]["name"], schemes["payloadDigestAlg"]["name"]} == {
        "X-Payload-Digest", "X-Payload-Digest-Alg"}
    for method, path, operation in _operations(published):
        expected: Any
        if path.startswith("/api/"):
            expected = [{"operator": []}]
        elif path.startswith("/portal/"):
            expected = [{"customer": []}]
        elif path == "/webhooks/sumsub":
            expected = [{"payloadDigest": [], "payloadDigestAlg": []}]
        else:
            assert path.startswith("/health/"), path
            expected = None
        assert operation.get("security") == expected, (method, path)


async def test_every_error_is_a_problem_and_operator_routes_document_401_and_403(published: dict[str, Any]) -> None:
    problem = published["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "code", "title", "status", "detail", "instance"}
    assert {"request_id", "field", "errors"} <= set(problem["properties"])
    for method, path, operation in _operations(published):
        responses = operation["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                content = response["content"][PROBLEM_JSON]
                assert content["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}, (method, path)
                assert content["examples"], (method, path, status)
        if path.startswith("/api/"):
            assert {"401", "403"} <= set(responses), (method, path)
        if "{customer_id}" in path:
            assert "404" in responses, (method, path)
    webhook = published["paths"]["/webhooks/sumsub"]["post"]
    assert {"400", "401", "413"} <= set(webhook["responses"])
    body = webhook["requestBody"]["content"]["application/json"]["schema"]
    assert body["title"] == "SumsubCallback"
    assert body["required"] == ["type"]
    assert body["properties"]["reviewResult"]["properties"]["reviewAnswer"]["enum"] == ["GREEN", "RED"]
    assert "502" in published["paths"]["/api/customers/{customer_id}/kyc-link"]["post"]["responses"]


async def test_status_fields_are_enums(published: dict[str, Any]) -> None:
    schemas = published["components"]["schemas"]
    customer = schemas["CustomerView"]["properties"]
    for field in ("kyc_status", "verification_status", "kyc_level", "activity_status", "customer_type"):
        target = schemas[customer[field]["$ref"].rsplit("/", 1)[1]]
        assert target.get("enum"), field
    assert schemas["KycStatus"]["enum"] == ["not_started", "pending", "approved", "rejected", "review_needed"]
    for name, field in (("KycCallbackView", "status"), ("DepositAccountView", "status"),
                        ("ProvisioningStepView", "status")):
        ref = schemas[name]["properties"][field]["$ref"].rsplit("/", 1)[1]
        assert schemas[ref]["enum"], (name, field)


# -- the live app against its schema --------------------------------------------------------------

# Hypothesis warns when the global ``random`` changes while it draws a case; the app's own worker runs
# in this process and draws its retry jitter from ``random`` (jobs left by earlier tests retry meanwhile)
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
def _run(schema: schemathesis.BaseSchema, base_url: str, headers: dict[str, str], *, mode: GenerationMode,
         examples: int, checks: list[Any]) -> list[str]:
    """Every operation, ``examples`` generated cases each; the failures, as text."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        _explore(result.ok(), base_url, headers, mode, examples, checks, failures)
    return failures


def _explore(operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode, examples: int,
             checks: list[Any], failures: list[str]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def explore(case: Any) -> None:
        case.validate_response(case.call(base_url=base_url, headers=headers), checks=checks)

    try:
        explore()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # an operation with no input has nothing invalid to send
    except FailureGroup as exc:  # the smallest failing case, and a curl to repeat it
        failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")


def _load(published: dict[str, Any], *, allow_nul: bool) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(published)
    schema.config.generation.update(allow_x00=allow_nul)
    return schema


async def test_the_live_service_answers_as_its_schema_says(
    published: dict[str, Any], api: Client, as_operator: dict[str, str],
) -> None:
    # NUL bytes are left to the fuzz pass below
    schema = _load(published, allow_nul=False)
    failures = await asyncio.to_thread(_run, schema, str(api.base_url), as_operator,
                                       mode=GenerationMode.POSITIVE, examples=10, checks=CONFORMANCE)
    assert not failures, "\n".join(failures)


async def test_hostile_query_and_path_parameters_never_give_a_5xx(
    published: dict[str, Any], api: Client, as_operator: dict[str, str],
) -> None:
    schema = _load(published, allow_nul=True)
    failures: list[str] = []
    for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE):
        failures += await asyncio.to_thread(_run, schema, str(api.base_url), as_operator,
                                            mode=mode, examples=40, checks=[not_a_server_error])
    assert not failures, "\n".join(failures)
