"""What every endpoint of the fake shares: finding the realm, the issuer, JSON and form bodies."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from sim.keycloak.grants import ClientCredentials
from sim.keycloak.realm import Realm
from sim.keycloak.tokens import TokenError

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = [
    "AnyRequest",
    "KeycloakAnswer",
    "PathSegment",
    "RealmName",
    "base_url_of",
    "client_credentials",
    "form_of",
    "json_body",
    "json_response",
    "oauth_error",
    "realm_or_404",
]

AnyRequest: TypeAlias = Request[Any, Any, Any]
RealmName: TypeAlias = FromPath[str]
PathSegment: TypeAlias = FromPath[str]


class KeycloakAnswer(HTTPException):
    """Ends a request with Keycloak's exact status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=str(body))
        self.body = body
        self.answer_headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json",
                    headers=headers)


def answer_keycloak_error(_: Request[Any, Any, Any], exc: KeycloakAnswer) -> Response[bytes]:
    return json_response(exc.body, exc.status_code, exc.answer_headers)


def oauth_error(error: TokenError) -> Response[bytes]:
    return json_response(error.body(), error.status)


def base_url_of(keycloak: KeycloakFake, request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Keycloak without a configured hostname names itself after the URL it was called on."""
    if keycloak.base_url is not None:
        return keycloak.base_url
    return f"{request.url.scheme}://{request.url.netloc}/"


def realm_or_404(keycloak: KeycloakFake, name: str) -> Realm:
    realm = keycloak.realms.get(name)
    if realm is None:
        raise KeycloakAnswer(404, {"error": "Realm does not exist"})
    return realm


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def client_credentials(request: Request[Any, Any, Any], form: dict[str, str]) -> ClientCredentials:
    """From HTTP Basic if present (client_secret_basic), else from the form (client_secret_post)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise KeycloakAnswer(400, {"error": "invalid_request",
                                       "error_description": "Invalid Authorization header"}) from None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id") or None, form.get("client_secret") or None


async def json_body(request: Request[Any, Any, Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise KeycloakAnswer(400, {"error": "unknown_error"}) from None
