"""OIDC: discovery, JWKS and the token endpoint, through python-keycloak's KeycloakOpenID and PyJWT."""

from __future__ import annotations

import base64
import json

import httpx
import jwt
import pytest
from cryptography import x509
from keycloak import KeycloakAuthenticationError, KeycloakOpenID, KeycloakPostError

from sim.clock import VirtualClock
from sim.keycloak import KeycloakFake

ACCESS_TOKEN_CLAIMS = {"exp", "iat", "jti", "iss", "aud", "sub", "typ", "azp", "sid", "realm_access",
                       "resource_access", "scope", "email_verified", "preferred_username", "given_name",
                       "family_name", "email"}


def verify_with_jwks(token: str, server_url: str, realm: str) -> dict:
    jwks = jwt.PyJWKClient(f"{server_url}realms/{realm}/protocol/openid-connect/certs", cache_keys=False)
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], issuer=f"{server_url}realms/{realm}", audience="account")


def test_discovery_names_every_endpoint_under_the_issuer_of_the_called_url(server_url: str) -> None:
    document = httpx.get(f"{server_url}realms/admin/.well-known/openid-configuration").json()

    issuer = f"{server_url}realms/admin"
    assert document["issuer"] == issuer
    for name, suffix in (("authorization_endpoint", "auth"), ("token_endpoint", "token"),
                         ("userinfo_endpoint", "userinfo"), ("end_session_endpoint", "logout"),
                         ("jwks_uri", "certs")):
        assert document[name] == f"{issuer}/protocol/openid-connect/{suffix}"
    assert httpx.get(document["jwks_uri"]).status_code == 200


def test_a_configured_base_url_is_the_issuer_whatever_url_was_called(keycloak: KeycloakFake,
                                                                      server_url: str) -> None:
    keycloak.base_url = "https://login.bank.example"

    document = httpx.get(f"{server_url}realms/customer/.well-known/openid-configuration").json()

    assert document["issuer"] == "https://login.bank.example/realms/customer"


def test_jwks_key_is_rs256_with_a_certificate_for_the_same_key(server_url: str) -> None:
    (key,) = httpx.get(f"{server_url}realms/admin/protocol/openid-connect/certs").json()["keys"]

    assert {key["kty"], key["alg"], key["use"]} == {"RSA", "RS256", "sig"}
    certificate = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
    numbers = certificate.public_key().public_numbers()  # type: ignore[union-attr]
    n = int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4)), "big")
    assert numbers.n == n
    assert numbers.e == 65537


def test_unknown_realm_is_404(server_url: str) -> None:
    assert httpx.get(f"{server_url}realms/nowhere/protocol/openid-connect/certs").status_code == 404


async def test_operator_password_grant_gives_a_token_the_jwks_verifies(
        keycloak: KeycloakFake, server_url: str, operator_openid: KeycloakOpenID) -> None:
    answer = operator_openid.token(keycloak.operator_username, keycloak.operator_password)

    claims = verify_with_jwks(answer["access_token"], server_url, "admin")
    assert claims.keys() >= ACCESS_TOKEN_CLAIMS
    assert "operator" in claims["realm_access"]["roles"]
    assert claims["preferred_username"] == "operator"
    assert claims["azp"] == keycloak.operator_client_id
    assert claims["typ"] == "Bearer"
    assert claims["sid"] == answer["session_state"]
    assert claims["exp"] - claims["iat"] == answer["expires_in"] == 300
    assert jwt.get_unverified_header(answer["access_token"])["kid"] == keycloak.realm("admin").key.kid
    assert answer["token_type"] == "Bearer"
    assert {"refresh_token", "id_token"} <= answer.keys()


async def test_async_password_grant_and_userinfo(keycloak: KeycloakFake, operator_openid: KeycloakOpenID) -> None:
    answer = await operator_openid.a_token(keycloak.viewer_username, keycloak.viewer_password)

    info = await operator_openid.a_userinfo(answer["access_token"])

    assert info["preferred_username"] == "viewer"
    assert info["sub"] == keycloak.realm("admin").user_by_username("viewer").id  # type: ignore[union-attr]


async def test_wrong_password_is_invalid_user_credentials(keycloak: KeycloakFake,
                                                          operator_openid: KeycloakOpenID) -> None:
    with pytest.raises(KeycloakAuthenticationError) as refused:
        operator_openid.token(keycloak.operator_username, "not-the-password")

    assert refused.value.response_code == 401
    assert json.loads(refused.value.response_body) == {"error": "invalid_grant",
                                                       "error_description": "Invalid user credentials"}


async def test_client_credentials_answer_has_keycloaks_fields(keycloak: KeycloakFake, server_url: str) -> None:
    openid = KeycloakOpenID(server_url=server_url, realm_name="customer", client_id=keycloak.service_client_id,
                            client_secret_key=keycloak.service_client_secret)
    answer = openid.token(grant_type="client_credentials")
    await openid.connection.aclose()

    assert answer.keys() == {"access_token", "expires_in", "refresh_expires_in", "token_type", "not-before-policy",
                             "scope"}
    assert (answer["expires_in"], answer["refresh_expires_in"], answer["scope"]) == (300, 0, "profile email")
    claims = verify_with_jwks(answer["access_token"], server_url, "customer")
    assert claims["preferred_username"] == "service-account-onboarding-service"
    assert "manage-users" in claims["resource_access"]["realm-management"]["roles"]


@pytest.mark.parametrize(("secret", "description"), [("wrong", "Invalid client or Invalid client credentials"),
                                                      (None, "Invalid client or Invalid client credentials")])
def test_a_confidential_client_without_its_secret_is_invalid_client(
        keycloak: KeycloakFake, server_url: str, secret: str | None, description: str) -> None:
    form = {"grant_type": "client_credentials", "client_id": keycloak.service_client_id}
    if secret is not None:
        form["client_secret"] = secret

    response = httpx.post(f"{server_url}realms/customer/protocol/openid-connect/token", data=form)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": description}


def test_client_credentials_by_http_basic(keycloak: KeycloakFake, server_url: str) -> None:
    response = httpx.post(f"{server_url}realms/customer/protocol/openid-connect/token",
                          data={"grant_type": "client_credentials"},
                          auth=(keycloak.service_client_id, keycloak.service_client_secret))

    assert response.status_code == 200


def test_a_public_client_gets_no_service_account(keycloak: KeycloakFake, server_url: str) -> None:
    response = httpx.post(f"{server_url}realms/customer/protocol/openid-connect/token",
                          data={"grant_type": "client_credentials", "client_id": keycloak.portal_client_id})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"


def test_password_grant_needs_direct_access_grants(keycloak: KeycloakFake, server_url: str) -> None:
    response = httpx.post(f"{server_url}realms/customer/protocol/openid-connect/token",
                          data={"grant_type": "password", "client_id": keycloak.service_client_id,
                                "client_secret": keycloak.service_client_secret, "username": "x", "password": "y"})

    assert response.status_code == 400
    assert response.json() == {"error": "unauthorized_client",
                               "error_description": "Client not allowed for direct access grants"}


async def test_refresh_works_until_logout_ends_the_session(keycloak: KeycloakFake,
                                                           operator_openid: KeycloakOpenID) -> None:
    answer = operator_openid.token(keycloak.operator_username, keycloak.operator_password)

    refreshed = operator_openid.refresh_token(answer["refresh_token"])
    assert refreshed["access_token"] != answer["access_token"]
    operator_openid.logout(refreshed["refresh_token"])

    with pytest.raises(KeycloakPostError) as refused:
        operator_openid.refresh_token(refreshed["refresh_token"])
    assert refused.value.response_code == 400
    assert b"Session not active" in refused.value.response_body


async def test_minted_token_has_the_token_endpoints_claims_and_expires_on_the_clock(
        keycloak: KeycloakFake, server_url: str, clock: VirtualClock, operator_openid: KeycloakOpenID) -> None:
    keycloak.base_url = server_url
    from_endpoint = jwt.decode(operator_openid.token(keycloak.operator_username,
                                                     keycloak.operator_password)["access_token"],
                               options={"verify_signature": False})

    minted = keycloak.mint_token("admin", "operator", client_id=keycloak.operator_client_id, expires_in=60,
                                 extra_claims={"acr": "2"})

    claims = verify_with_jwks(minted, server_url, "admin")
    assert claims.keys() == from_endpoint.keys()
    assert (claims["exp"] - claims["iat"], claims["acr"]) == (60, "2")
    assert operator_openid.userinfo(minted)["preferred_username"] == "operator"
    await clock.advance(60)
    with pytest.raises(KeycloakAuthenticationError):
        operator_openid.userinfo(minted)


def test_mint_token_needs_to_know_the_issuer(keycloak: KeycloakFake) -> None:
    with pytest.raises(RuntimeError, match="base_url"):
        keycloak.mint_token("admin", "operator", client_id=keycloak.operator_client_id)
