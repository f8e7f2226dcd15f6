"""Who may call the admin API: a valid bearer token whose user holds a management role.

A realm is administered through its own ``realm-management`` client, or from another realm through
that realm's ``<target>-realm`` client (as Keycloak's master realm administers every other realm).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from sim.keycloak.realm import REALM_MANAGEMENT_CLIENT, Realm, User
from sim.keycloak.tokens import InvalidToken, TokenService, issuer_of

__all__ = ["AdminRight", "Forbidden", "NotAuthenticated", "authorize_admin"]


class AdminRight(Enum):
    QUERY_USERS = "query-users"
    VIEW_USERS = "view-users"
    MANAGE_USERS = "manage-users"
    VIEW_REALM = "view-realm"


ROLES_GRANTING: dict[AdminRight, tuple[str, ...]] = {
    AdminRight.QUERY_USERS: ("query-users", "view-users", "manage-users", "realm-admin"),
    AdminRight.VIEW_USERS: ("view-users", "manage-users", "realm-admin"),
    AdminRight.MANAGE_USERS: ("manage-users", "realm-admin"),
    # Keycloak lets user administrators list realm roles: they need them to map roles to users.
    AdminRight.VIEW_REALM: ("view-realm", "manage-realm", "view-users", "manage-users", "realm-admin"),
}


class NotAuthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


def authorize_admin(realms: Mapping[str, Realm], tokens: TokenService, bearer: str | None, target: Realm,
                    right: AdminRight, *, base_url: str) -> User:
    if not bearer:
        raise NotAuthenticated("no bearer token")
    token_realm = realms.get(tokens.realm_named_in(bearer) or "")
    if token_realm is None:
        raise NotAuthenticated("token from an unknown realm")
    try:
        claims = tokens.verify(token_realm, bearer, issuer=issuer_of(base_url, token_realm.name), typ="Bearer")
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc)) from exc
    caller = token_realm.user(claims["sub"])
    if caller is None or not caller.enabled:
        raise NotAuthenticated("user of the token is gone or disabled")
    management_client = REALM_MANAGEMENT_CLIENT if token_realm is target else f"{target.name}-realm"
    if not caller.has_client_role(management_client, *ROLES_GRANTING[right]):
        raise Forbidden(f"{caller.username} lacks {right.value} on {target.name}")
    return caller
