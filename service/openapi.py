"""What the published OpenAPI document says: errors, security, and the pages that render it.

Routes state their own ``operation_id``, ``security`` and ``responses`` with the helpers here, so
that the document tells a client generator every answer a route can give:

    @post("/", operation_id="createCustomer", security=OPERATOR,
          responses=operator_problems(409, 422, codes={409: ("duplicate_email", "duplicate_telegram_id")}))

Every error is ``application/problem+json`` with one shared ``ProblemDetails`` schema. The docs
pages (Swagger UI, Scalar) load their scripts and styles from the service itself (pinned copies
under ``service/static``), run no inline script, and so work offline and behind the strict
Content-Security-Policy they are served with.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIMediaType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
    Tag,
)
from litestar.openapi.spec.enums import OpenAPIType

from service.kyc.domain import RejectType, ReviewAnswer
from service.problems import PROBLEM_JSON, TITLES
from service.settings import Settings

__all__ = [
    "CUSTOMER",
    "DOCS_CSP",
    "OPERATOR",
    "PROBLEM_JSON",
    "STATIC_DIR",
    "STATIC_PATH",
    "SUMSUB_SIGNATURE",
    "FieldError",
    "ProblemDetails",
    "SumsubCallbackOperation",
    "WebhookAck",
    "docs_security_headers",
    "openapi_config",
    "operator_problems",
    "problems",
]

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"

# security requirements, by scheme name (the schemes are in ``openapi_config``)
OPERATOR: list[SecurityRequirement] = [{"operator": []}]
CUSTOMER: list[SecurityRequirement] = [{"customer": []}]
SUMSUB_SIGNATURE: list[SecurityRequirement] = [{"payloadDigest": [], "payloadDigestAlg": []}]


class FieldError(msgspec.Struct):
    field: Annotated[str, msgspec.Meta(examples=["email"])]
    message: Annotated[str, msgspec.Meta(examples=["Expected `str` of length >= 3"])]


class ProblemDetails(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details. ``code`` is stable and machine-readable; ``type`` is derived from it."""

    type: Annotated[str, msgspec.Meta(examples=["/problems/customer-not-found"])]
    code: Annotated[str, msgspec.Meta(examples=["customer_not_found"])]
    title: Annotated[str, msgspec.Meta(examples=["Not found"])]
    status: Annotated[int, msgspec.Meta(ge=400, le=599, examples=[404])]
    detail: Annotated[str, msgspec.Meta(examples=["no customer C1000"])]
    instance: Annotated[str, msgspec.Meta(description="the request's path", examples=["/api/customers/C1000"])]
    request_id: Annotated[str, msgspec.Meta(description="the X-Request-ID of the request, to find its log lines",
                                            examples=["0f6b2c9a4e1d4b7c8a2f5e3d1c0b9a87"])] | None = None
    field: Annotated[str, msgspec.Meta(description="the one input field at fault, when there is one")] | None = None
    errors: Annotated[list[FieldError], msgspec.Meta(description="every field at fault (422)")] | None = None


@dataclass(frozen=True)
class _Status:
    description: str
    codes: tuple[str, ...]


_STATUSES: dict[int, _Status] = {
    400: _Status("The request could not be read (not JSON, wrong content type).", ("malformed_request",)),
    401: _Status("No bearer token, or one that was refused.", ("unauthenticated",)),
    403: _Status("The token lacks the permission this route requires.", ("forbidden",)),
    404: _Status("No such customer (or account).", ("customer_not_found",)),
    409: _Status("The request conflicts with the current state.", ("conflict",)),
    413: _Status("The body is over the configured limit.", ("payload_too_large",)),
    422: _Status("An input field is invalid; `field` and `errors` name it.", ("invalid_input",)),
    502: _Status("An upstream system (Sumsub) failed.", ("sumsub_failed",)),
    503: _Status("A dependency or a setting this route needs is missing.", ("unavailable",)),
}


def _example(status: int, code: str, instance: str) -> Example:
    body: dict[str, Any] = {
        "type": f"/problems/{code.replace('_', '-')}", "code": code, "title": TITLES.get(status, "Error"),
        "status": status, "detail": _DETAILS.get(code, code.replace("_", " ")), "instance": instance,
        "request_id": "0f6b2c9a4e1d4b7c8a2f5e3d1c0b9a87",
    }
    if code == "invalid_input":
        body |= {"field": "email", "errors": [{"field": "email", "message": "Expected `str` of length >= 3"}]}
    return Example(summary=code, value=body)


_DETAILS = {
    "unauthenticated": "a bearer token from the operators' realm is required",
    "forbidden": "CUSTOMER_CREATE is required",
    "customer_not_found": "no customer C1000",
    "duplicate_email": "a customer with this email exists",
    "insufficient_funds": "the withdrawal would overdraw the account",
    "sumsub_failed": "Sumsub could not create the verification link",
    "invalid_signature": "the digest does not match the body",
}


def problems(*statuses: int, codes: Mapping[int, Iterable[str]] | None = None,
             descriptions: Mapping[int, str] | None = None,
             instance: str = "/api/customers/C1000") -> dict[int, ResponseSpec]:
    """Problem responses for ``statuses``; ``codes`` names the ``code`` values a status can carry
    on this route (each becomes an example), ``descriptions`` says what a status means here."""
    specs: dict[int, ResponseSpec] = {}
    for status in statuses:
        known = _STATUSES[status]
        route_codes = tuple((codes or {}).get(status, known.codes))
        specs[status] = ResponseSpec(
            data_container=ProblemDetails,
            media_type=PROBLEM_JSON,
            generate_examples=False,
            description=f"{(descriptions or {}).get(status, known.description)} `code`: {', '.join(route_codes)}.",
            examples=[_example(status, code, instance) for code in route_codes],
        )
    return specs


def operator_problems(*statuses: int, codes: Mapping[int, Iterable[str]] | None = None) -> dict[int, ResponseSpec]:
    """An operator route's problems: 400, 401 and 403 always, and ``statuses``."""
    return problems(400, 401, 403, *statuses, codes=codes)


# The webhook reads its raw body to verify the signature, so Litestar cannot derive the body's
# schema from a parameter; it is stated here instead, as Sumsub documents it.
_STRING = Schema(type=OpenAPIType.STRING)
_NULLABLE_STRING = Schema(one_of=[_STRING, Schema(type=OpenAPIType.NULL)])

SUMSUB_CALLBACK_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="SumsubCallback",
    description="A Sumsub webhook body. Only `type` is required; unknown fields are kept as sent.",
    required=["type"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, examples=["applicantReviewed"],
                       description="applicantCreated, applicantPending, applicantReviewed, applicantOnHold, "
                                   "applicantPersonalInfoChanged, …"),
        "applicantId": _STRING,
        "inspectionId": _STRING,
        "externalUserId": Schema(type=OpenAPIType.STRING, description="the customer's id (UUID)"),
        "correlationId": _STRING,
        "levelName": _STRING,
        "reviewStatus": _STRING,
        "createdAtMs": Schema(
            one_of=[_STRING, Schema(type=OpenAPIType.INTEGER)],
            description="when Sumsub made the event: `YYYY-MM-DD HH:MM:SS.mmm` (UTC), ISO 8601, or epoch ms",
            examples=["2026-11-25 10:00:00.000"]),
        "sandboxMode": Schema(type=OpenAPIType.BOOLEAN),
        "clientId": _STRING,
        "reviewResult": Schema(type=OpenAPIType.OBJECT, properties={
            "reviewAnswer": Schema(type=OpenAPIType.STRING, enum=[a.value for a in ReviewAnswer]),
            "reviewRejectType": Schema(type=OpenAPIType.STRING, enum=[t.value for t in RejectType]),
            "rejectLabels": Schema(type=OpenAPIType.ARRAY, items=_STRING),
            "moderationComment": _NULLABLE_STRING,
            "clientComment": _NULLABLE_STRING,
        }),
    },
    examples=[{
        "type": "applicantReviewed", "applicantId": "5cb56e8e0a975a35f333cb83",
        "externalUserId": "7b1e6a52-8c0f-4e7e-9d0a-3b9b1d1f4c2a", "correlationId": "req-7f3b",
        "levelName": "basic-kyc-level", "reviewStatus": "completed", "createdAtMs": "2026-11-25 10:00:00.000",
        "reviewResult": {"reviewAnswer": "GREEN"},
    }],
)


class WebhookAck(msgspec.Struct):
    status: Literal["accepted", "duplicate"]


@dataclass
class SumsubCallbackOperation(Operation):
    """The webhook's operation, with the request body it reads by hand."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="The callback as Sumsub sends it. `X-Payload-Digest` is the HMAC of these exact bytes.",
            content={"application/json": OpenAPIMediaType(schema=SUMSUB_CALLBACK_SCHEMA)},
        )


# The docs pages run no inline script; styles are inline because both UIs inject them at run time.
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self' {keycloak}; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self' {keycloak}")


def docs_security_headers(settings: Settings) -> dict[str, str]:
    return {"content-security-policy": DOCS_CSP.format(keycloak=_origin(settings.keycloak_url))}


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class _SelfHostedSwagger(SwaggerRenderPlugin):
    """Swagger UI from the service's own copy; its start-up is a static script, not inline."""

    def __init__(self, *, client_id: str | None, **kwargs: Any) -> None:
        self.client_id = client_id
        assets = f"{STATIC_PATH}/swagger-ui"
        super().__init__(js_url=f"{assets}/swagger-ui-bundle.js", css_url=f"{assets}/swagger-ui.css",
                         standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        oauth = {"clientId": self.client_id, "usePkceWithAuthorizationCodeGrant": True, "scopes": "openid"} \
            if self.client_id else {}
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · Swagger UI</title>
  <link rel="icon" type="image/png" href="{STATIC_PATH}/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="{self.css_url}">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{html.escape(self.get_openapi_json_route(request))}"
       data-oauth="{html.escape(json.dumps(oauth))}"></div>
  <script src="{self.js_url}"></script>
  <script src="{STATIC_PATH}/docs/swagger-init.js"></script>
</body>
</html>
""".encode()

    @staticmethod
    def render_oauth2_redirect() -> bytes:
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Swagger UI: OAuth2 redirect</title></head>
<body><script src="{STATIC_PATH}/swagger-ui/oauth2-redirect.js"></script></body></html>
""".encode()


# no web fonts (Scalar's default loads them from its own host), no "open in client" button
_SCALAR_OPTIONS = {"withDefaultFonts": False, "hideClientButton": True, "defaultOpenAllTags": True}


class _SelfHostedScalar(ScalarRenderPlugin):
    """Scalar from the service's own copy, without its web fonts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(js_url=f"{STATIC_PATH}/scalar/standalone.js", css_url="", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · API reference</title>
  <link rel="icon" type="image/png" href="{STATIC_PATH}/swagger-ui/favicon-32x32.png">
</head>
<body>
  <script id="api-reference" type="application/json" data-url="{html.escape(self.get_openapi_json_route(request))}"
          data-configuration="{html.escape(json.dumps(_SCALAR_OPTIONS))}"></script>
  <script src="{self.js_url}"></script>
</body>
</html>
""".encode()


def _security_schemes(settings: Settings) -> dict[str, SecurityScheme | Reference]:
    def discovery(issuer: str) -> str:
        return f"{issuer}/.well-known/openid-configuration"

    return {
        "operator": SecurityScheme(
            type="openIdConnect", open_id_connect_url=discovery(settings.admin_issuer),
            description="An access token from the Keycloak admin realm (`Authorization: Bearer …`), issued to "
                        "an operator client; realm roles map to permissions."),
        "customer": SecurityScheme(
            type="openIdConnect", open_id_connect_url=discovery(settings.customer_issuer),
            description="An access token from the Keycloak customer realm, issued to the portal client for a "
                        "customer's own login."),
        "payloadDigest": SecurityScheme(
            type="apiKey", name="X-Payload-Digest", security_scheme_in="header",
            description="Hex HMAC of the raw body with the webhook secret (Sumsub's signature)."),
        "payloadDigestAlg": SecurityScheme(
            type="apiKey", name="X-Payload-Digest-Alg", security_scheme_in="header",
            description="The HMAC's algorithm: HMAC_SHA1_HEX, HMAC_SHA256_HEX or HMAC_SHA512_HEX."),
    }


def openapi_config(settings: Settings) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Customer onboarding",
        version="0.1.0",
        description="Operators create customers, start their KYC with Sumsub and move money on their deposit "
                    "accounts; Sumsub calls back; customers read their own data. Errors are RFC 9457 problem "
                    "details with a stable `code`.",
        path="/schema",
        render_plugins=[_SelfHostedScalar(), _SelfHostedSwagger(path="/swagger",
                                                                 client_id=settings.openapi_client_id)],
        components=Components(security_schemes=_security_schemes(settings)),
        tags=[
            Tag(name="customers", description="Customers and their state"),
            Tag(name="kyc", description="Sumsub verification, and the callbacks behind a customer's state"),
            Tag(name="deposit accounts", description="A customer's USD deposit account"),
            Tag(name="audit", description="Authorisation decisions"),
            Tag(name="webhooks", description="Callbacks from Sumsub, signed with the webhook secret"),
            Tag(name="portal", description="A customer's own view"),
            Tag(name="health", description="Liveness and readiness, without authentication"),
        ],
        use_handler_docstrings=False,
    )
