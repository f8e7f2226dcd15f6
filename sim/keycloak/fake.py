"""``KeycloakFake``: realms, users, clients and tokens behind Keycloak's own HTTP API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sim.clock import VirtualClock
from sim.control import with_control
from sim.faults import HttpFaults
from sim.keycloak.app import build_app
from sim.keycloak.control import keycloak_control
from sim.keycloak.grants import Grants
from sim.keycloak.journal import RequestJournal
from sim.keycloak.keys import RealmKey
from sim.keycloak.login import LoginFlows
from sim.keycloak.mail import ActionEmail
from sim.keycloak.realm import ADMIN_ONLY, REALM_MANAGEMENT_CLIENT, Realm
from sim.keycloak.tokens import TokenService, issuer_of
from sim.seed import Seed

__all__ = ["KeycloakFake"]

LOOPBACK_REDIRECTS = ["http://127.0.0.1:*/*", "http://localhost:*/*"]
# What an administrator of a realm holds on that realm's management client.
USER_ADMIN_ROLES = ("manage-users", "view-users", "query-users")


class KeycloakFake:
    admin_realm = "admin"
    customer_realm = "customer"
    operator_client_id = "onboarding-admin-panel"
    operator_username = "operator"
    viewer_username = "viewer"
    service_client_id = "onboarding-service"
    portal_client_id = "customer-portal"
    # the operator API's audience: a bearer-only client that the admin panel's tokens name in "aud"
    service_audience = "onboarding-api"
    # the customer-realm attribute that ties a login to its customer; only administrators may set it
    customer_id_attribute = "customer_id"
    # drawn from the seed by with_defaults
    operator_password: str
    viewer_password: str
    service_client_secret: str

    def __init__(self, clock: VirtualClock, seed: Seed, *, base_url: str | None = None,
                 smtp_host: str | None = None, smtp_port: int | None = None) -> None:
        self.clock = clock
        self.seed = seed
        self.base_url = base_url
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.mail_from = "no-reply@keycloak.sim.test"
        self.realms: dict[str, Realm] = {}
        # tokens are drawn from a stream of their own: how many a client asks for depends on the wall
        # clock (renewals), and must not shift the ids of users and clients made after them
        self.tokens = TokenService(clock, lambda: self.seed.uuid("keycloak.token_ids"))
        self.logins = LoginFlows(clock, self._new_code)
        self.grants = Grants(self.tokens, self.logins)
        self.journal = RequestJournal(clock)
        self.action_emails: list[ActionEmail] = []
        self.faults = HttpFaults("keycloak", clock, seed)
        # the admin API in front: faults never reach it, and the journal never records it
        self.app = with_control(keycloak_control(self),
                                self.faults.wrap(self.journal.wrap(build_app(self))))  # type: ignore[arg-type]
        self._keys: dict[str, RealmKey] = {}
        self._provision: Callable[[], None] | None = None

    @classmethod
    def with_defaults(cls, clock: VirtualClock, seed: Seed, *, base_url: str | None = None,
                      smtp_host: str | None = None, smtp_port: int | None = None) -> KeycloakFake:
        """The onboarding stack's realms: operators in ``admin``, customers in ``customer``."""
        fake = cls(clock, seed, base_url=base_url, smtp_host=smtp_host, smtp_port=smtp_port)
        fake.operator_password = seed.token("keycloak.credentials", 20)
        fake.viewer_password = seed.token("keycloak.credentials", 20)
        fake.service_client_secret = seed.token("keycloak.credentials", 32)
        fake._provision = fake._provision_defaults
        fake._provision_defaults()
        return fake

    # where it is reachable
    @property
    def base_url(self) -> str | None:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = None if value is None else value.rstrip("/") + "/"

    def issuer(self, realm: str) -> str:
        if self.base_url is None:
            raise RuntimeError("base_url is not known until the fake is served; set fake.base_url")
        return issuer_of(self.base_url, realm)

    # realms
    def add_realm(self, name: str) -> Realm:
        if name in self.realms:
            raise ValueError(f"realm {name!r} exists")
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = RealmKey(self.seed.uuid("keycloak.kids"), name, seed_value=self.seed.value,
                                             issued_at=self.clock.now())
        realm = Realm(name, key, new_id=self._new_id, now_ms=lambda: int(self.clock.time() * 1000))
        self.realms[name] = realm
        return realm

    def realm(self, name: str) -> Realm:
        return self.realms[name]

    def reset(self) -> None:
        """Back to the state just after construction: provisioned realms (same keys and
        credentials), no other users, sessions, tokens, recorded requests, emails or faults."""
        self.realms.clear()
        self.tokens.reset()
        self.logins.reset()
        self.journal.clear()
        self.action_emails.clear()
        self.faults.reset()
        if self._provision is not None:
            self._provision()

    # tokens without HTTP
    def mint_token(self, realm: str, username: str, *, client_id: str, expires_in: int | None = None,
                   extra_claims: Mapping[str, Any] | None = None) -> str:
        """An access token as the token endpoint would give after a login by ``username``."""
        state = self.realms[realm]
        user = state.user_by_username(username)
        if user is None:
            raise LookupError(f"no user {username!r} in realm {realm!r}")
        client = state.clients[client_id]
        session = self.tokens.start_session(state, user, client)
        return self.tokens.access_token(state, user, client, issuer=self.issuer(realm), scope="openid profile email",
                                        session=session, expires_in=expires_in, extra_claims=extra_claims)

    def expire_tokens(self) -> None:
        """Every token issued so far stops being accepted (as after a key rotation or a restart of
        a Keycloak without persistent sessions); clients must authenticate again."""
        self.tokens.revoke_all()

    def _new_id(self) -> str:
        return self.seed.uuid("keycloak.ids")

    def _new_code(self) -> str:
        return self.seed.token("keycloak.codes", 43)

    def _provision_defaults(self) -> None:
        admin = self.add_realm(self.admin_realm)
        admin.add_role("operator", "Works the onboarding admin panel")
        admin.add_role("viewer", "Reads the onboarding admin panel")
        admin.add_client(self.service_audience, standard_flow=False)
        # the admin panel signs operators in by the authorization code flow with PKCE (S256 required);
        # its callback and post-logout pages are on the service's loopback address in the sandbox
        admin.add_client(self.operator_client_id, public=True, direct_access_grants=True,
                         redirect_uris=list(LOOPBACK_REDIRECTS), audiences=[self.service_audience],
                         pkce_method="S256")
        # Administration of the customer realm from the admin realm, as Keycloak's master realm
        # does it with one "<realm>-realm" client per realm.
        admin.add_client(f"{self.customer_realm}-realm", standard_flow=False,
                         roles={*USER_ADMIN_ROLES, "view-realm", "realm-admin"})
        for username, password, role in ((self.operator_username, self.operator_password, "operator"),
                                         (self.viewer_username, self.viewer_password, "viewer")):
            user = admin.create_user({"username": username, "enabled": True, "emailVerified": True,
                                      "email": f"{username}@bank.example", "firstName": role.title(),
                                      "lastName": "Bank"})
            admin.set_password(user, password, temporary=False)
            admin.grant_realm_roles(user, [role])
        operator = admin.user_by_username(self.operator_username)
        assert operator is not None
        admin.grant_client_roles(operator, f"{self.customer_realm}-realm", ["realm-admin"])
        admin.grant_client_roles(operator, REALM_MANAGEMENT_CLIENT, ["realm-admin"])

        customer = self.add_realm(self.customer_realm)
        # a customer may edit their profile through the account API, but never which customer they are
        customer.user_profile.declare(self.customer_id_attribute, ADMIN_ONLY)
        service = customer.add_client(self.service_client_id, secret=self.service_client_secret,
                                      standard_flow=False, service_accounts=True)
        customer.grant_client_roles(customer.service_account(service), REALM_MANAGEMENT_CLIENT, USER_ADMIN_ROLES)
        # Direct grants stay on for the portal so that a notebook can log a customer in without a browser.
        customer.add_client(self.portal_client_id, public=True, redirect_uris=list(LOOPBACK_REDIRECTS),
                            pkce_method="S256", direct_access_grants=True)
