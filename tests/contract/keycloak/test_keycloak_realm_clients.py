"""What every realm has, as Keycloak makes it: the built-in clients (so that their tokens can be tried
against the service), audience mappers, and the account API under the realm's user profile."""

from __future__ import annotations

import httpx
import jwt
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID
from keycloak.exceptions import KeycloakAuthenticationError

from sim.keycloak import KeycloakFake
from sim.keycloak.realm import ADMIN_ONLY, BUILT_IN_CLIENTS


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("realm", ["admin", "customer"])
def test_every_realm_has_keycloaks_built_in_clients(keycloak: KeycloakFake, realm: str) -> None:
    clients = keycloak.realm(realm).clients
    assert set(BUILT_IN_CLIENTS) <= set(clients)
    admin_cli = clients["admin-cli"]
    assert (admin_cli.public, admin_cli.direct_access_grants, admin_cli.standard_flow) == (True, True, False)
    assert clients["account-console"].public
    assert clients["account-console"].pkce_method == "S256"
    assert clients["security-admin-console"].public
    assert clients["security-admin-console"].pkce_method == "S256"
    for bearer_only in ("broker", "realm-management"):
        assert not clients[bearer_only].public
        assert clients[bearer_only].secret is None
    assert "read-token" in clients["broker"].roles


async def test_admin_cli_gives_any_user_of_the_realm_a_token_by_password(keycloak: KeycloakFake,
                                                                        server_url: str) -> None:
    admin_cli = KeycloakOpenID(server_url=server_url, realm_name=keycloak.admin_realm, client_id="admin-cli")
    try:
        token = await admin_cli.a_token(keycloak.operator_username, keycloak.operator_password)
    finally:
        await admin_cli.connection.aclose()
    claims = claims_of(token["access_token"])
    assert claims["azp"] == "admin-cli"
    assert "operator" in claims["realm_access"]["roles"]
    assert keycloak.service_audience not in claims.get("aud", [])


async def test_built_in_clients_without_direct_grants_or_secret_give_no_token(keycloak: KeycloakFake,
                                                                              server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        for client_id in ("account-console", "security-admin-console"):
            refused = await http.post(f"realms/{keycloak.admin_realm}/protocol/openid-connect/token", data={
                "grant_type": "password", "client_id": client_id, "username": keycloak.operator_username,
                "password": keycloak.operator_password})
            assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client"), client_id
        for client_id in ("broker", "realm-management"):
            refused = await http.post(f"realms/{keycloak.customer_realm}/protocol/openid-connect/token",
                                      data={"grant_type": "client_credentials", "client_id": client_id})
            assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client"), client_id


async def test_the_operator_clients_audience_mapper_names_the_service(keycloak: KeycloakFake,
                                                                      operator_openid: KeycloakOpenID) -> None:
    token = await operator_openid.a_token(keycloak.operator_username, keycloak.operator_password)
    claims = claims_of(token["access_token"])
    assert claims["azp"] == keycloak.operator_client_id
    assert keycloak.service_audience in claims["aud"]
    assert keycloak.realm(keycloak.admin_realm).clients[keycloak.service_audience].secret is None


def test_the_customer_realms_profile_keeps_customer_id_for_administrators(keycloak: KeycloakFake) -> None:
    profile = keycloak.realm(keycloak.customer_realm).user_profile
    assert profile.attributes[keycloak.customer_id_attribute] == ADMIN_ONLY
    assert not profile.user_can_edit(keycloak.customer_id_attribute)
    assert not profile.user_can_view(keycloak.customer_id_attribute)
    assert profile.user_can_edit("locale")  # unmanaged attributes stay the user's


# the account API
@pytest.fixture
async def mallory(keycloak: KeycloakFake, portal: KeycloakOpenID) -> str:
    """A customer-realm user with a password of their own, logged in through the portal client."""
    realm = keycloak.realm(keycloak.customer_realm)
    user = realm.create_user({"username": "mallory@example.com", "email": "mallory@example.com", "enabled": True,
                              "attributes": {"locale": ["en"]}})
    realm.set_password(user, "Mallory-1", temporary=False)
    return str((await portal.a_token("mallory@example.com", "Mallory-1"))["access_token"])


async def test_a_user_reads_and_edits_their_own_profile(keycloak: KeycloakFake, server_url: str,
                                                        mallory: str) -> None:
    account = f"{server_url}realms/{keycloak.customer_realm}/account/"
    bearer = {"Authorization": f"Bearer {mallory}"}
    async with httpx.AsyncClient() as http:
        own = (await http.get(account, headers=bearer)).json()
        assert (own["username"], own["attributes"]) == ("mallory@example.com", {"locale": ["en"]})
        changed = await http.post(account, headers=bearer, json={**own, "firstName": "Mal",
                                                                 "attributes": {"locale": ["de"]}})
        assert changed.status_code == 204, changed.text
    user = keycloak.realm(keycloak.customer_realm).user_by_username("mallory@example.com")
    assert user is not None
    assert (user.first_name, user.attributes) == ("Mal", {"locale": ["de"]})


async def test_a_user_cannot_give_themselves_a_customer_id_or_another_username(
        keycloak: KeycloakFake, server_url: str, mallory: str) -> None:
    account = f"{server_url}realms/{keycloak.customer_realm}/account/"
    bearer = {"Authorization": f"Bearer {mallory}"}
    async with httpx.AsyncClient() as http:
        own = (await http.get(account, headers=bearer)).json()
        claimed = await http.post(account, headers=bearer, json={
            **own, "attributes": {**own["attributes"], keycloak.customer_id_attribute: ["a-victims-customer-id"]}})
        renamed = await http.post(account, headers=bearer, json={**own, "username": "victim@example.com"})
    assert claimed.status_code == 400
    assert claimed.json() == {"field": "customer_id", "errorMessage": "error-user-attribute-read-only",
                              "params": ["customer_id"]}
    assert renamed.status_code == 400
    assert renamed.json()["field"] == "username"
    user = keycloak.realm(keycloak.customer_realm).user_by_username("mallory@example.com")
    assert user is not None
    assert keycloak.customer_id_attribute not in user.attributes


async def test_an_administrators_attribute_is_neither_shown_nor_lost_on_a_users_edit(
        keycloak: KeycloakFake, server_url: str, mallory: str) -> None:
    realm = keycloak.realm(keycloak.customer_realm)
    user = realm.user_by_username("mallory@example.com")
    assert user is not None
    user.attributes[keycloak.customer_id_attribute] = ["set-by-the-bank"]
    account = f"{server_url}realms/{keycloak.customer_realm}/account/"
    bearer = {"Authorization": f"Bearer {mallory}"}
    async with httpx.AsyncClient() as http:
        own = (await http.get(account, headers=bearer)).json()
        assert keycloak.customer_id_attribute not in own["attributes"]
        assert (await http.post(account, headers=bearer, json=own)).status_code == 204
    assert user.attributes[keycloak.customer_id_attribute] == ["set-by-the-bank"]


async def test_the_account_api_wants_a_token_of_the_realm(keycloak: KeycloakFake, server_url: str,
                                                          operator_openid: KeycloakOpenID) -> None:
    operator = (await operator_openid.a_token(keycloak.operator_username, keycloak.operator_password))["access_token"]
    async with httpx.AsyncClient() as http:
        account = f"{server_url}realms/{keycloak.customer_realm}/account/"
        assert (await http.post(account, json={"firstName": "x"})).status_code == 401
        assert (await http.post(account, json={"firstName": "x"},
                                headers={"Authorization": f"Bearer {operator}"})).status_code == 401


async def test_the_service_account_still_sets_the_attribute(admin: KeycloakAdmin) -> None:
    user_id = await admin.a_create_user({"username": "grace@example.com", "email": "grace@example.com",
                                         "enabled": True, "attributes": {"customer_id": ["c-1"]}})
    assert (await admin.a_get_user(user_id))["attributes"] == {"customer_id": ["c-1"]}


async def test_a_realms_hash_iterations_policy_is_what_a_password_set_then_costs(keycloak: KeycloakFake,
                                                                                portal: KeycloakOpenID) -> None:
    realm = keycloak.realm(keycloak.customer_realm)
    assert realm.password_hash_iterations == 27_500  # Keycloak's historical default
    realm.password_hash_iterations = 1  # as a realm with the password policy hashIterations(1)
    user = realm.create_user({"username": "cheap@example.com", "email": "cheap@example.com", "enabled": True})
    realm.set_password(user, "Cheap-1", temporary=False)
    assert user.password is not None
    assert user.password.iterations == 1
    assert "access_token" in await portal.a_token("cheap@example.com", "Cheap-1")
    with pytest.raises(KeycloakAuthenticationError):
        await portal.a_token("cheap@example.com", "Cheap-2")
