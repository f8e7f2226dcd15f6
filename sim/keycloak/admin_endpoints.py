"""The admin REST API under ``/admin/realms/{realm}``: users, their passwords and required-action
emails, and realm roles, as python-keycloak calls them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Response, Router, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from sim.keycloak.admin_access import AdminRight, Forbidden, NotAuthenticated, authorize_admin
from sim.keycloak.http import AnyRequest, KeycloakAnswer, PathSegment, RealmName, base_url_of, json_body, json_response
from sim.keycloak.mail import ActionEmail, MailNotSent, compose_actions_email, send_email
from sim.keycloak.realm import (
    ACCOUNT_CLIENT,
    KNOWN_REQUIRED_ACTIONS,
    DuplicateUser,
    InvalidUserRepresentation,
    Realm,
    User,
    UserQuery,
)
from sim.keycloak.tokens import issuer_of

if TYPE_CHECKING:
    from sim.keycloak.fake import KeycloakFake

__all__ = ["admin_router"]

DEFAULT_PAGE_SIZE = 100
# q=key:value key2:"value with spaces"
ATTRIBUTE_TERM = re.compile(r'("[^"]*"|[^\s:]+):("[^"]*"|\S+)')


def _no_content() -> Response[Any]:
    return Response(None, status_code=204)


def _error_message(status: int, message: str) -> KeycloakAnswer:
    return KeycloakAnswer(status, {"errorMessage": message})


def _realm(keycloak: KeycloakFake, name: str) -> Realm:
    realm = keycloak.realms.get(name)
    if realm is None:
        raise KeycloakAnswer(404, {"error": "Realm not found."})
    return realm


def _user(realm: Realm, user_id: str) -> User:
    user = realm.user(user_id)
    if user is None:
        raise KeycloakAnswer(404, {"error": "User not found"})
    return user


def requires_admin_right(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    keycloak: KeycloakFake = connection.app.state.keycloak
    target = _realm(keycloak, connection.path_params["realm"])
    scheme, _, bearer = connection.headers.get("authorization", "").partition(" ")
    try:
        authorize_admin(keycloak.realms, keycloak.tokens, bearer if scheme.lower() == "bearer" else None, target,
                        handler.opt["right"], base_url=base_url_of(keycloak, connection))  # type: ignore[arg-type]
    except NotAuthenticated:
        raise KeycloakAnswer(401, {"error": "HTTP 401 Unauthorized"}) from None
    except Forbidden:
        raise KeycloakAnswer(403, {"error": "HTTP 403 Forbidden"}) from None


# query parsing
def _flag(value: str | None) -> bool | None:
    # python-keycloak sends True over requests and true over httpx.
    return None if value is None else value.strip().lower() == "true"


def _integer(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise KeycloakAnswer(400, {"error": "invalid_request"}) from None


def _attributes(q: str | None) -> dict[str, str]:
    return {key.strip('"'): value.strip('"') for key, value in ATTRIBUTE_TERM.findall(q or "")}


def _user_query(params: Any) -> UserQuery:
    return UserQuery(
        search=params.get("search"),
        username=params.get("username"),
        email=params.get("email"),
        first_name=params.get("firstName"),
        last_name=params.get("lastName"),
        exact=_flag(params.get("exact")),
        enabled=_flag(params.get("enabled")),
        email_verified=_flag(params.get("emailVerified")),
        attributes=_attributes(params.get("q")),
    )


# users
@get("/users", opt={"right": AdminRight.QUERY_USERS})
async def list_users(realm: RealmName, request: AnyRequest,
                     keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    params = request.query_params
    found = _realm(keycloak, realm).search_users(_user_query(params), first=_integer(params.get("first"), 0),
                                                 limit=_integer(params.get("max"), DEFAULT_PAGE_SIZE))
    brief = _flag(params.get("briefRepresentation")) is True
    return json_response([user.representation(brief=brief) for user in found])


@get("/users/count", opt={"right": AdminRight.QUERY_USERS})
async def count_users(realm: RealmName, request: AnyRequest,
                      keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    return json_response(_realm(keycloak, realm).count_users(_user_query(request.query_params)))


@post("/users", opt={"right": AdminRight.MANAGE_USERS})
async def create_user(realm: RealmName, request: AnyRequest,
                      keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise KeycloakAnswer(400, {"error": "unknown_error"})
    try:
        user = _realm(keycloak, realm).create_user(body)
    except DuplicateUser as exc:
        raise _error_message(409, str(exc)) from None
    except InvalidUserRepresentation as exc:
        raise _error_message(400, str(exc)) from None
    location = f"{base_url_of(keycloak, request)}admin/realms/{realm}/users/{user.id}"
    return Response(None, status_code=201, headers={"Location": location})


@get("/users/{user_id:str}", opt={"right": AdminRight.VIEW_USERS})
async def get_user(realm: RealmName, user_id: PathSegment,
                   keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    return json_response(_user(_realm(keycloak, realm), user_id).representation())


@put("/users/{user_id:str}", opt={"right": AdminRight.MANAGE_USERS})
async def update_user(realm: RealmName, user_id: PathSegment, request: AnyRequest,
                      keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = _realm(keycloak, realm)
    user = _user(state, user_id)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise KeycloakAnswer(400, {"error": "unknown_error"})
    try:
        state.update_user(user, body)
    except DuplicateUser as exc:
        raise _error_message(409, str(exc)) from None
    except InvalidUserRepresentation as exc:
        raise _error_message(400, str(exc)) from None
    return _no_content()


@delete("/users/{user_id:str}", opt={"right": AdminRight.MANAGE_USERS}, status_code=204)
async def delete_user(realm: RealmName, user_id: PathSegment,
                      keycloak: NamedDependency[KeycloakFake]) -> None:
    state = _realm(keycloak, realm)
    state.delete_user(_user(state, user_id))


@put("/users/{user_id:str}/reset-password", opt={"right": AdminRight.MANAGE_USERS})
async def reset_password(realm: RealmName, user_id: PathSegment, request: AnyRequest,
                         keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = _realm(keycloak, realm)
    user = _user(state, user_id)
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("value") is None:
        raise KeycloakAnswer(400, {"error": "No password provided"})
    try:
        state.set_password(user, str(body["value"]), temporary=body.get("temporary") is True)
    except InvalidUserRepresentation as exc:
        raise _error_message(400, str(exc)) from None
    return _no_content()


@put("/users/{user_id:str}/execute-actions-email", opt={"right": AdminRight.MANAGE_USERS})
async def execute_actions_email(realm: RealmName, user_id: PathSegment, request: AnyRequest,
                                keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = _realm(keycloak, realm)
    user = _user(state, user_id)
    actions = await json_body(request)
    params = request.query_params
    client_id = params.get("client_id") or ACCOUNT_CLIENT
    redirect_uri = params.get("redirect_uri") or None
    if not user.email:
        raise _error_message(400, "User email missing")
    if not user.enabled:
        raise _error_message(400, "User is disabled")
    if not isinstance(actions, list) or any(a not in KNOWN_REQUIRED_ACTIONS for a in actions):
        raise _error_message(400, "Provided invalid required actions")
    client = state.clients.get(client_id)
    if client is None:
        raise _error_message(400, "Client doesn't exist")
    if redirect_uri is not None and not client.accepts_redirect(redirect_uri):
        raise _error_message(400, "Invalid redirect uri.")
    lifespan = _integer(params.get("lifespan"), state.action_token_lifespan)

    base_url = base_url_of(keycloak, request)
    key = keycloak.tokens.action_token(state, user, issuer=issuer_of(base_url, realm), client_id=client_id,
                                       actions=actions, lifespan=lifespan, redirect_uri=redirect_uri)
    link = f"{base_url}realms/{realm}/login-actions/action-token?" + urlencode({"key": key, "client_id": client_id})
    message = compose_actions_email(realm_name=realm, sender=keycloak.mail_from, to=user.email, actions=actions,
                                    link=link, lifespan_seconds=lifespan)
    sent_at = keycloak.clock.time()
    try:
        await send_email(message, keycloak.smtp_host, keycloak.smtp_port)
    except MailNotSent as exc:
        keycloak.action_emails.append(ActionEmail(realm, user.id, user.email, tuple(actions), link, sent_at,
                                                  delivered=False, error=str(exc)))
        raise _error_message(500, "Failed to send execute actions email") from None
    keycloak.action_emails.append(ActionEmail(realm, user.id, user.email, tuple(actions), link, sent_at,
                                              delivered=True))
    return _no_content()


# realm roles
@get("/roles", opt={"right": AdminRight.VIEW_REALM})
async def list_roles(realm: RealmName, keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    roles = sorted(_realm(keycloak, realm).roles.values(), key=lambda role: role.name)
    return json_response([role.representation() for role in roles])


@get("/roles/{role_name:str}", opt={"right": AdminRight.VIEW_REALM})
async def get_role(realm: RealmName, role_name: PathSegment,
                   keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    role = _realm(keycloak, realm).roles.get(role_name)
    if role is None:
        raise KeycloakAnswer(404, {"error": "Could not find role"})
    return json_response(role.representation())


@get("/users/{user_id:str}/role-mappings/realm", opt={"right": AdminRight.VIEW_USERS})
async def user_realm_roles(realm: RealmName, user_id: PathSegment,
                           keycloak: NamedDependency[KeycloakFake]) -> Response[bytes]:
    state = _realm(keycloak, realm)
    user = _user(state, user_id)
    return json_response([state.roles[name].representation() for name in sorted(user.realm_roles)])


@post("/users/{user_id:str}/role-mappings/realm", opt={"right": AdminRight.MANAGE_USERS})
async def grant_user_realm_roles(realm: RealmName, user_id: PathSegment, request: AnyRequest,
                                 keycloak: NamedDependency[KeycloakFake]) -> Response[Any]:
    state = _realm(keycloak, realm)
    user = _user(state, user_id)
    names = _role_names(await json_body(request))
    try:
        state.grant_realm_roles(user, names)
    except LookupError as exc:
        raise KeycloakAnswer(404, {"error": str(exc.args[0])}) from None
    return _no_content()


@delete("/users/{user_id:str}/role-mappings/realm", opt={"right": AdminRight.MANAGE_USERS}, status_code=204)
async def revoke_user_realm_roles(realm: RealmName, user_id: PathSegment, request: AnyRequest,
                                  keycloak: NamedDependency[KeycloakFake]) -> None:
    user = _user(_realm(keycloak, realm), user_id)
    user.realm_roles.difference_update(_role_names(await json_body(request)))


def _role_names(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in body):
        raise KeycloakAnswer(400, {"error": "unknown_error"})
    return [role["name"] for role in body]


admin_router = Router(
    "/admin/realms/{realm:str}",
    guards=[requires_admin_right],
    route_handlers=[list_users, count_users, create_user, get_user, update_user, delete_user, reset_password,
                    execute_actions_email, list_roles, get_role, user_realm_roles, grant_user_realm_roles,
                    revoke_user_realm_roles],
)
