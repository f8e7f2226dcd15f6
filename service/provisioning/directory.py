"""Customer logins in Keycloak's customer realm, through python-keycloak's async API.

A customer's user is found by the ``customer_id`` attribute before anything is created, and a
409 on create is answered by looking the user up: a retried job, or a second worker, never makes
a second user.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError, KeycloakPostError

from service.settings import Settings

__all__ = ["CUSTOMER_ID_ATTRIBUTE", "CustomerDirectory", "DirectoryError"]

log = structlog.get_logger(__name__)

CUSTOMER_ID_ATTRIBUTE = "customer_id"


class DirectoryError(Exception):
    """Keycloak did not do what was asked; retrying may help."""


@dataclass(frozen=True)
class CustomerLogin:
    user_id: str
    username: str
    created: bool


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

    async def _find(self, customer_id: str) -> dict[str, object] | None:
        users = await self._admin.a_get_users({"q": f"{CUSTOMER_ID_ATTRIBUTE}:{customer_id}", "max": 2})
        matching = [u for u in users if customer_id in (u.get("attributes") or {}).get(CUSTOMER_ID_ATTRIBUTE, [])]
        if len(matching) > 1:
            raise DirectoryError(f"{len(matching)} Keycloak users carry customer_id {customer_id}")
        return matching[0] if matching else None

    async def ensure_login(self, customer_id: str, email: str) -> CustomerLogin:
        try:
            found = await self._find(customer_id)
            if found is not None:
                return CustomerLogin(str(found["id"]), str(found["username"]), created=False)
            payload = {
                "username": email,
                "email": email,
                "emailVerified": True,
                "enabled": True,
                "attributes": {CUSTOMER_ID_ATTRIBUTE: [customer_id]},
            }
            try:
                user_id = await self._admin.a_create_user(payload)
            except KeycloakPostError as exc:
                if exc.response_code != 409:
                    raise
                # made by a concurrent attempt, or a user with this email exists already
                found = await self._find(customer_id)
                if found is None:
                    raise DirectoryError(f"Keycloak has a user named {email} that is not this customer's") from exc
                return CustomerLogin(str(found["id"]), str(found["username"]), created=False)
            log.info("keycloak.user_created", customer_id=customer_id, user_id=user_id)
            return CustomerLogin(str(user_id), email.lower(), created=True)
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak: {type(exc).__name__} {getattr(exc, 'response_code', '')}") from exc

    async def set_temporary_password(self, user_id: str, password: str) -> None:
        try:
            await self._admin.a_set_user_password(user_id, password, temporary=True)
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak refused the password reset: {type(exc).__name__}") from exc

    async def disable_login(self, customer_id: str) -> str | None:
        """Disable the customer's user; the user id, or None when there is none."""
        try:
            found = await self._find(customer_id)
            if found is None:
                return None
            if found.get("enabled", True):
                await self._admin.a_update_user(str(found["id"]), {"enabled": False})
            return str(found["id"])
        except KeycloakError as exc:
            raise DirectoryError(f"Keycloak: {type(exc).__name__}") from exc
