"""Keycloak's account REST API for a user's own profile: ``GET`` and ``POST /realms/{realm}/account/``
with the user's bearer token, as the account console calls it.

What a user may see and change is the realm's user profile's decision: an attribute only
administrators may edit is refused (400, ``error-user-attribute-read-only``) when the body changes it,
and an attribute the user may not see is neither shown nor touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Response, Router, get, post
from litestar.di import NamedDependency

from sim.keycloak.http import AnyRequest, KeycloakAnswer, RealmName, base_url_of, json_body, json_response, realm_or_404
from sim.keycloak.realm import ACCOUNT_CLIENT, DuplicateUser, InvalidUserRepresentation, Realm, User
from sim.keycloak.tokens import InvalidToken, issuer_of

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["account_router"]

READ_ONLY = "error-user-attribute-read-only"


def _account_holder(keycloak: KeycloakFake, realm: Realm, request: AnyRequest, role: str) -> User:
    """The user of the bearer token, who holds ``role`` of the account client."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not bearer:
        raise KeycloakAnswer(401, {"error": "HTTP 401 Unauthorized"})
    try:
        claims = keycloak.tokens.verify(realm, bearer, issuer=issuer_of(base_url_of(keycloak, request), realm.name),
                                        typ="Bearer")
    except InvalidToken:
        raise KeycloakAnswer(401, {"error": "HTTP 401 Unauthorized"}) from None
    audience = claims.get("aud")
    if ACCOUNT_CLIENT not in (audience if isinstance(audience, list) else [audience]):
        raise KeycloakAnswer(401, {"error": "HTTP 401 Unauthorized"})
    user = realm.user(claims["sub"])
    if user is None or not user.enabled:
        raise KeycloakAnswer(401, {"error": "HTTP 401 Unauthorized"})
    if not user.has_client_role(ACCOUNT_CLIENT, role):
        raise KeycloakAnswer(403, {"error": "HTTP 403 Forbidden"})
    return user


def _own_view(realm: Realm, user: User) -> dict[str, Any]:
    body: dict[str, Any] = {"id": user.id, "username": user.username}
    for key, value in (("firstName", user.first_name), ("lastName", user.last_name), ("email", user.email)):
        if value is not None:
            body[key] = value
    body["emailVerified"] = user.email_verified
    shown = {name: list(values) for name, values in user.attributes.items() if realm.user_profile.user_can_view(name)}
    if shown:
        body["attributes"] = shown
    return body


def _read_only(name: str) -> KeycloakAnswer:
    return KeycloakAnswer(400, {"field": name, "errorMessage": READ_ONLY, "params": [name]})


def _attribute_changes(realm: Realm, user: User, submitted: Any) -> dict[str, list[str]]:
    """The user's new attribute set: the submitted editable ones, and every one they may not edit
    as it was. Submitting a different value for one they may not edit is refused."""
    if not isinstance(submitted, dict):
        raise KeycloakAnswer(400, {"errorMessage": "Invalid attributes"})
    profile = realm.user_profile
    kept = {name: values for name, values in user.attributes.items() if not profile.user_can_edit(name)}
    changed: dict[str, list[str]] = {}
    for name, raw in submitted.items():
        values = [str(v) for v in raw] if isinstance(raw, list) else [] if raw is None else [str(raw)]
        if profile.user_can_edit(name):
            changed[str(name)] = values
        elif values != user.attributes.get(name, []):
            raise _read_only(str(name))
    return {**changed, **kept}


@get("/")
async def own_profile(realm: RealmName, request: AnyRequest,
                      keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    state = realm_or_404(keycloak, realm)
    return json_response(_own_view(state, _account_holder(keycloak, state, request, "view-profile")))


@post("/")
async def update_own_profile(realm: RealmName, request: AnyRequest,
                             keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = realm_or_404(keycloak, realm)
    user = _account_holder(keycloak, state, request, "manage-account")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise KeycloakAnswer(400, {"errorMessage": "unknown_error"})
    username = body.get("username")
    if isinstance(username, str) and username.strip().lower() != user.username \
            and not state.user_profile.edit_username_allowed:
        raise _read_only("username")
    change: dict[str, Any] = {key: body[key] for key in ("firstName", "lastName", "email") if key in body}
    if "attributes" in body:
        change["attributes"] = _attribute_changes(state, user, body["attributes"])
    email = body.get("email")
    if isinstance(email, str) and email.lower() != (user.email or ""):
        change["emailVerified"] = False  # a new address is not verified yet
    if isinstance(username, str) and state.user_profile.edit_username_allowed:
        change["username"] = username
    try:
        state.update_user(user, change)
    except DuplicateUser as exc:
        raise KeycloakAnswer(409, {"field": exc.field, "errorMessage": f"{exc.field}ExistsMessage"}) from None
    except InvalidUserRepresentation as exc:
        raise KeycloakAnswer(400, {"errorMessage": str(exc)}) from None
    return Response(None, status_code=204)


account_router = Router("/realms/{realm:str}/account", route_handlers=[own_profile, update_own_profile])
