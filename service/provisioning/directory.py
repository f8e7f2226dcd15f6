"""Customer logins in Keycloak's customer realm, through python-keycloak's async API.

A customer's user is found by the ``customer_id`` attribute before anything is created, and a
409 on create is answered by looking the user up: a retried job, or a second worker, never makes
a second user.

An attribute is only a claim: a user who could set ``customer_id`` on their own account (a realm
whose user profile lets users edit it) would be handed the customer's login. So an existing user
is adopted only when its username and email are the customer's email as well (usernames are unique
and users cannot change theirs); any other user carrying the attribute is refused, and the step
fails with an error that tells an operator what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError, KeycloakPostError

from service.settings import Settings

__all__ = ["CUSTOMER_ID_ATTRIBUTE", "CustomerDirectory", "DirectoryError", "LoginConflict"]

log = structlog.get_logger(__name__)

CUSTOMER_ID_ATTRIBUTE = "customer_id"


class DirectoryError(Exception):
    """Keycloak did not do what was asked; retrying may help."""


class LoginConflict(DirectoryError):
    """Keycloak holds a user that is not this customer's login where the customer's should be; an
    administrator must fix the user before provisioning can go on."""


def _is_login_of(user: dict[str, object], email: str) -> bool:
    wanted = email.lower()
    return str(user.get("username") or "").lower() == wanted and str(user.get("email") or "").lower() == wanted


@dataclass(frozen=True)
class CustomerLogin:
    user_id: str
    username: str
    created: bool
    password_set: bool = False  # made with the temporary password asked for


class CustomerDirectory:
    def __init__(self, settings: Settings) -> None:
        if not settings.keycloak_client_secret:
            raise DirectoryError("KEYCLOAK_CLIENT_SECRET is not set")
        self._connection = KeycloakOpenIDConnection(
            server_url=settings.keycloak_url,
            realm_name=settings.keycloak_customer_realm,
            client_id=settings.keycloak_client_id,
            client_secret_key=settings.keycloak_client_secret,
            timeout=settings.keycloak_timeout_seconds,
        )
        self._admin = KeycloakAdmin(connection=self._connection)

    async def aclose(self) -> None:
        # python-keycloak builds two httpx clients: the connection's and its token client's
        await self._connection.keycloak_openid.connection.aclose()
        await self._connection.aclose()

    async def _carrying(self, customer_id: str) -> list[dict[str, object]]:
        """Every user whose ``customer_id`` attribute names this customer."""
        users = await self._admin.a_get_users({"q": f"{CUSTOMER_ID_ATTRIBUTE}:{customer_id}"})
        return [u for u in users if customer_id in (u.get("attributes") or {}).get(CUSTOMER_ID_ATTRIBUTE, [])]

    async def _find(self, customer_id: str, email: str) -> dict[str, object] | None:
        """The customer's login: the user carrying the customer's id whose username and email are the
        customer's email. None when no user carries the id; LoginConflict when only others do."""
        carrying = await self._carrying(customer_id)
        logins = [u for u in carrying if _is_login_of(u, email)]
        impostors = [u for u in carrying if not _is_login_of(u, email)]
        if impostors:
            log.warning("keycloak.user_not_adopted", customer_id=customer_id,
                        user_ids=[str(u.get("id")) for u in impostors])
        if logins:
            return logins[0]
        if impostors:
            found = impostors[0]
            raise LoginConflict(
                f"Keycloak user {found.get('id')} carries customer_id {customer_id} but its username "
                f"{found.get('username')!r} and email {found.get('email')!r} are not the customer's email: "
                f"not adopted; remove the attribute from that user (or make it the customer's) in Keycloak")
        return None

    async def ensure_login(self, customer_id: str, email: str, *,
                           temporary_password: str | None = None) -> CustomerLogin:
        """The customer's login, found or made. A login made now is given ``temporary_password``
        (temporary: changed at the first login), in the same request; one found keeps its own."""
        try:
            found = await self._find(customer_id, email)
            if found is not None:
                return CustomerLogin(str(found["id"]), str(found["username"]), created=False)
            payload = {
                "username": email,
                "email": email,
                "emailVerified": True,
                "enabled": True,
                "attributes": {CUSTOMER_ID_ATTRIBUTE: [customer_id]},
            }
            if temporary_password is not None:
                payload["credentials"] = [{"type": "password", "value": temporary_password, "temporary": True}]
            try:
                user_id = await self._admin.a_create_user(payload)
            except KeycloakPostError as exc:
                if exc.response_code != 409:
                    raise
                # made by a concurrent attempt, or a user with this email exists already
                found = await self._find(customer_id, email)
                if found is None:
                    raise LoginConflict(
                        f"Keycloak has a user named {email} (or with that email) that does not carry this "
                        f"customer's customer_id: not adopted; an administrator must check that user") from exc
                return CustomerLogin(str(found["id"]), str(found["username"]), created=False)
            log.info("keycloak.user_created", customer_id=customer_id, user_id=user_id)
            return CustomerLogin(str(user_id), email.lower(), created=True,
                                 password_set=temporary_password is not None)
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak: {type(exc).__name__} {getattr(exc, 'response_code', '')}") from exc

    async def set_temporary_password(self, user_id: str, password: str) -> None:
        try:
            await self._admin.a_set_user_password(user_id, password, temporary=True)
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak refused the password reset: {type(exc).__name__}") from exc

    async def disable_login(self, customer_id: str) -> str | None:
        """Disable every user carrying the customer's id (the customer's login, and any user that
        claims to be it: none of them may log in as a suspended customer); their ids, or None."""
        try:
            carrying = await self._carrying(customer_id)
            for found in carrying:
                if found.get("enabled", True):
                    await self._admin.a_update_user(str(found["id"]), {"enabled": False})
            return ",".join(str(found["id"]) for found in carrying) or None
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak: {type(exc).__name__}") from exc
