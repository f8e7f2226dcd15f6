"""A realm's state: users, clients, roles and signing key, with Keycloak's rules for changing them.

Nothing here knows HTTP. The admin endpoints translate requests into these calls and the errors
below into Keycloak's answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.keycloak.credentials import ITERATIONS, PasswordHash
from sim.keycloak.keys import RealmKey

__all__ = [
    "ADMIN_ONLY",
    "BUILT_IN_CLIENTS",
    "UPDATE_PASSWORD",
    "AttributePermissions",
    "Client",
    "DuplicateUser",
    "InvalidUserRepresentation",
    "Realm",
    "RealmRole",
    "User",
    "UserProfile",
    "UserQuery",
]

UPDATE_PASSWORD = "UPDATE_PASSWORD"  # noqa: S105 (a required action's name, not a secret)
KNOWN_REQUIRED_ACTIONS = frozenset(
    {"CONFIGURE_TOTP", "TERMS_AND_CONDITIONS", UPDATE_PASSWORD, "UPDATE_PROFILE", "VERIFY_EMAIL",
     "delete_account", "webauthn-register", "update_user_locale"},
)
ACCOUNT_CLIENT = "account"
ACCOUNT_CONSOLE_CLIENT = "account-console"
ADMIN_CLI_CLIENT = "admin-cli"
BROKER_CLIENT = "broker"
REALM_MANAGEMENT_CLIENT = "realm-management"
SECURITY_ADMIN_CONSOLE_CLIENT = "security-admin-console"
# The clients Keycloak makes in every new realm, whatever else the realm is for.
BUILT_IN_CLIENTS = (ACCOUNT_CLIENT, ACCOUNT_CONSOLE_CLIENT, ADMIN_CLI_CLIENT, BROKER_CLIENT, REALM_MANAGEMENT_CLIENT,
                    SECURITY_ADMIN_CONSOLE_CLIENT)
# What Keycloak's default-roles composite gives every new user.
DEFAULT_ACCOUNT_ROLES = frozenset({"manage-account", "manage-account-links", "view-profile"})
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DuplicateUser(Exception):
    """Another user already has this username or email (``field`` says which)."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"User exists with same {field_name}")
        self.field = field_name


class InvalidUserRepresentation(Exception):
    """The representation breaks a rule; the message is the one Keycloak answers with."""


@dataclass
class RealmRole:
    id: str
    name: str
    description: str = ""
    container_id: str = ""

    def representation(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "composite": False,
                "clientRole": False, "containerId": self.container_id}


@dataclass
class Client:
    id: str
    client_id: str
    public: bool = False
    secret: str | None = field(default=None, repr=False)
    standard_flow: bool = True
    direct_access_grants: bool = False
    service_accounts: bool = False
    redirect_uris: list[str] = field(default_factory=list)
    # "S256" or "plain" makes PKCE mandatory with that method, as the client attribute
    # pkce.code.challenge.method does in Keycloak.
    pkce_method: str | None = None
    roles: set[str] = field(default_factory=set)
    # Audience protocol mappers ("Included Client Audience" / "Included Custom Audience"): these go
    # into the "aud" of every access token issued to this client.
    audiences: list[str] = field(default_factory=list)

    def accepts_redirect(self, uri: str) -> bool:
        if "#" in uri:
            return False
        return any(_glob(pattern).fullmatch(uri) for pattern in self.redirect_uris)

    def secret_matches(self, secret: str | None) -> bool:
        return self.public or (self.secret is not None and secret == self.secret)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


@dataclass(frozen=True)
class AttributePermissions:
    """Who may see and who may change a user attribute: ``"admin"`` (the admin API), ``"user"``
    (the user themselves, through the account API), as the declarative user profile says it."""

    view: frozenset[str] = frozenset({"admin", "user"})
    edit: frozenset[str] = frozenset({"admin", "user"})


ADMIN_ONLY = AttributePermissions(view=frozenset({"admin"}), edit=frozenset({"admin"}))


class UserProfile:
    """The realm's user profile, as far as it decides what a user may change about themselves.

    Attributes the profile does not declare are unmanaged; the fake keeps them editable by everyone,
    as Keycloak's "unmanaged attributes: enabled" policy does (and Keycloak before 24 did), so an
    attribute that a user must not set has to be declared, as in a real realm.
    """

    def __init__(self) -> None:
        self.attributes: dict[str, AttributePermissions] = {}
        self.edit_username_allowed = False

    def declare(self, name: str, permissions: AttributePermissions = AttributePermissions()) -> None:
        self.attributes[name] = permissions

    def user_can_view(self, name: str) -> bool:
        return "user" in self.attributes.get(name, AttributePermissions()).view

    def user_can_edit(self, name: str) -> bool:
        return "user" in self.attributes.get(name, AttributePermissions()).edit


@dataclass
class User:
    id: str
    username: str
    created_timestamp: int
    enabled: bool = True
    email: str | None = None
    email_verified: bool = False
    first_name: str | None = None
    last_name: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    required_actions: list[str] = field(default_factory=list)
    password: PasswordHash | None = field(default=None, repr=False)
    realm_roles: set[str] = field(default_factory=set)
    client_roles: dict[str, set[str]] = field(default_factory=dict)
    service_account_client_id: str | None = None

    @property
    def is_service_account(self) -> bool:
        return self.service_account_client_id is not None

    def password_matches(self, password: str) -> bool:
        return self.password is not None and self.password.matches(password)

    def has_client_role(self, client_id: str, *roles: str) -> bool:
        return bool(self.client_roles.get(client_id, set()) & set(roles))

    def representation(self, *, brief: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "username": self.username}
        for key, value in (("firstName", self.first_name), ("lastName", self.last_name), ("email", self.email)):
            if value is not None:
                body[key] = value
        body |= {"emailVerified": self.email_verified, "createdTimestamp": self.created_timestamp,
                 "enabled": self.enabled}
        if brief:
            return body
        if self.attributes:
            body["attributes"] = {key: list(values) for key, values in self.attributes.items()}
        if self.service_account_client_id is not None:
            body["serviceAccountClientId"] = self.service_account_client_id
        body |= {
            "totp": False,
            "disableableCredentialTypes": [],
            "requiredActions": list(self.required_actions),
            "notBefore": 0,
            "access": {"manageGroupMembership": True, "view": True, "mapRoles": True, "impersonate": False,
                       "manage": True},
        }
        return body


@dataclass(frozen=True)
class UserQuery:
    """The filters of ``GET /admin/realms/{realm}/users`` (and ``/users/count``)."""

    search: str | None = None
    username: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    exact: bool | None = None
    enabled: bool | None = None
    email_verified: bool | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def by_fields(self) -> bool:
        return any(value is not None for value in (self.username, self.email, self.first_name, self.last_name,
                                                   self.exact, self.enabled, self.email_verified)) \
            or bool(self.attributes)

    def matches(self, user: User) -> bool:
        if self.search is not None:
            # Keycloak lets a plain search find service accounts only through the field filters.
            if user.is_service_account:
                return False
            if self.enabled is not None and user.enabled != self.enabled:
                return False
            return _search_matches(self.search, user)
        if not self.by_fields:
            return not user.is_service_account
        if self.enabled is not None and user.enabled != self.enabled:
            return False
        if self.email_verified is not None and user.email_verified != self.email_verified:
            return False
        for wanted, actual in ((self.username, user.username), (self.email, user.email),
                               (self.first_name, user.first_name), (self.last_name, user.last_name)):
            if wanted is None:
                continue
            if actual is None:
                return False
            if self.exact:
                if wanted.lower() != actual.lower():
                    return False
            elif wanted.lower() not in actual.lower():
                return False
        return all(value in user.attributes.get(key, []) for key, value in self.attributes.items())


def _search_matches(search: str, user: User) -> bool:
    """Keycloak's ``search``: prefix by default, ``*`` as a wildcard, ``"..."`` for an exact match."""
    term = search.strip().lower()
    if term in ("", "*"):
        return True
    if len(term) >= 2 and term.startswith('"') and term.endswith('"'):
        pattern = re.compile(re.escape(term[1:-1]))
    elif "*" in term:
        pattern = _glob(term)
    else:
        pattern = re.compile(re.escape(term) + ".*")
    fields = (user.username, user.email, user.first_name, user.last_name)
    return any(value is not None and pattern.fullmatch(value.lower()) for value in fields)


class Realm:
    access_token_lifespan = 300
    sso_session_idle_timeout = 1800
    access_code_lifespan = 60
    action_token_lifespan = 43_200

    def __init__(self, name: str, key: RealmKey, *, new_id: Callable[[], str], now_ms: Callable[[], int]) -> None:
        self.name = name
        self.id = new_id()
        self.key = key
        self._new_id = new_id
        self._now_ms = now_ms
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.roles: dict[str, RealmRole] = {}
        self.duplicate_emails_allowed = False
        # the realm's password policy ``hashIterations(N)``: what a password costs to store and to check
        self.password_hash_iterations = ITERATIONS
        self.login_with_email_allowed = True
        self.user_profile = UserProfile()
        self.default_roles = {f"default-roles-{name}", "offline_access", "uma_authorization"}
        for role in sorted(self.default_roles):
            self.add_role(role)
        self._add_built_in_clients()

    def _add_built_in_clients(self) -> None:
        """What Keycloak makes in every realm. Relative redirect URIs are Keycloak's own (resolved against
        its address); confidential clients without a secret stand for Keycloak's bearer-only ones."""
        account_pages = [f"/realms/{self.name}/account/*"]
        self.add_client(ACCOUNT_CLIENT, public=True, roles=set(DEFAULT_ACCOUNT_ROLES), redirect_uris=account_pages)
        self.add_client(REALM_MANAGEMENT_CLIENT, standard_flow=False, roles={
            "manage-users", "view-users", "query-users", "manage-realm", "view-realm", "realm-admin"})
        self.add_client(ACCOUNT_CONSOLE_CLIENT, public=True, pkce_method="S256", redirect_uris=account_pages)
        # public, no browser flow, direct access grants on: a password gets a token for any user of the realm
        self.add_client(ADMIN_CLI_CLIENT, public=True, standard_flow=False, direct_access_grants=True)
        self.add_client(BROKER_CLIENT, standard_flow=False, roles={"read-token"})
        self.add_client(SECURITY_ADMIN_CONSOLE_CLIENT, public=True, pkce_method="S256",
                        redirect_uris=[f"/admin/{self.name}/console/*"])

    # roles and clients
    def add_role(self, name: str, description: str = "") -> RealmRole:
        role = self.roles.get(name)
        if role is None:
            role = self.roles[name] = RealmRole(self._new_id(), name, description, self.id)
        return role

    def add_client(self, client_id: str, **settings: Any) -> Client:
        client = Client(self._new_id(), client_id, **settings)
        self.clients[client_id] = client
        if client.service_accounts:
            account = self._new_user(f"service-account-{client_id}")
            account.service_account_client_id = client_id
            self.users[account.id] = account
        return client

    def service_account(self, client: Client) -> User:
        for user in self.users.values():
            if user.service_account_client_id == client.client_id:
                return user
        raise LookupError(f"client {client.client_id} has no service account")

    # finding users
    def user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def user_by_username(self, username: str) -> User | None:
        wanted = username.lower()
        return next((u for u in self.users.values() if u.username == wanted), None)

    def user_by_email(self, email: str) -> User | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email is not None and u.email.lower() == wanted), None)

    def user_by_login(self, login: str) -> User | None:
        user = self.user_by_username(login)
        if user is None and self.login_with_email_allowed and "@" in login:
            user = self.user_by_email(login)
        return user if user is None or not user.is_service_account else None

    def search_users(self, query: UserQuery, *, first: int = 0, limit: int | None = 100) -> list[User]:
        found = sorted((u for u in self.users.values() if query.matches(u)), key=lambda u: u.username)
        end = None if limit is None or limit < 0 else first + limit
        return found[max(first, 0):end]

    def count_users(self, query: UserQuery) -> int:
        return sum(1 for u in self.users.values() if query.matches(u))

    # changing users
    def create_user(self, representation: Mapping[str, Any]) -> User:
        username = representation.get("username")
        if not isinstance(username, str) or not username.strip():
            raise InvalidUserRepresentation("User name is missing")
        self._check_unique(username=username, email=representation.get("email"))
        user = self._new_user(username)
        # as Keycloak does: a user created without "enabled" is created disabled
        user.enabled = False
        self._apply(user, representation)
        for credential in representation.get("credentials") or []:
            if credential.get("type", "password") == "password":
                self.set_password(user, str(credential.get("value") or ""),
                                  temporary=bool(credential.get("temporary", False)))
        self.users[user.id] = user
        return user

    def update_user(self, user: User, representation: Mapping[str, Any]) -> None:
        username = representation.get("username")
        if isinstance(username, str) and username.lower() != user.username:
            self._check_unique(username=username, email=None, ignoring=user)
        email = representation.get("email")
        if isinstance(email, str) and (user.email or "").lower() != email.lower():
            self._check_unique(username=None, email=email, ignoring=user)
        self._apply(user, representation)
        if isinstance(username, str) and username.strip():
            user.username = username.strip().lower()

    def delete_user(self, user: User) -> None:
        del self.users[user.id]

    def set_password(self, user: User, value: str, *, temporary: bool) -> None:
        if not value:
            raise InvalidUserRepresentation("Password cannot be empty")
        user.password = PasswordHash.of(value, self.password_hash_iterations)
        if temporary:
            if UPDATE_PASSWORD not in user.required_actions:
                user.required_actions.append(UPDATE_PASSWORD)
        elif UPDATE_PASSWORD in user.required_actions:
            user.required_actions.remove(UPDATE_PASSWORD)

    def grant_realm_roles(self, user: User, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.roles:
                raise LookupError(f"Role {name} not found")
            user.realm_roles.add(name)

    def grant_client_roles(self, user: User, client_id: str, names: Iterable[str]) -> None:
        user.client_roles.setdefault(client_id, set()).update(names)

    def _new_user(self, username: str) -> User:
        return User(self._new_id(), username.strip().lower(), self._now_ms(), realm_roles=set(self.default_roles),
                    client_roles={ACCOUNT_CLIENT: set(DEFAULT_ACCOUNT_ROLES)})

    def _check_unique(self, *, username: str | None, email: Any, ignoring: User | None = None) -> None:
        if username is not None:
            holder = self.user_by_username(username)
            if holder is not None and holder is not ignoring:
                raise DuplicateUser("username")
        if isinstance(email, str) and email and not self.duplicate_emails_allowed:
            holder = self.user_by_email(email)
            if holder is not None and holder is not ignoring:
                raise DuplicateUser("email")

    def _apply(self, user: User, representation: Mapping[str, Any]) -> None:
        email = representation.get("email")
        if isinstance(email, str) and email and not EMAIL_PATTERN.match(email):
            raise InvalidUserRepresentation("error-invalid-email")
        actions = representation.get("requiredActions")
        if actions is not None and (
                not isinstance(actions, list) or any(a not in KNOWN_REQUIRED_ACTIONS for a in actions)):
            raise InvalidUserRepresentation("Provided invalid required actions")
        attributes = representation.get("attributes")
        if attributes is not None and not isinstance(attributes, dict):
            raise InvalidUserRepresentation("Invalid attributes")

        if "email" in representation:
            user.email = email.lower() if isinstance(email, str) and email else None
        if "firstName" in representation:
            user.first_name = representation["firstName"]
        if "lastName" in representation:
            user.last_name = representation["lastName"]
        if "enabled" in representation and representation["enabled"] is not None:
            user.enabled = bool(representation["enabled"])
        if "emailVerified" in representation and representation["emailVerified"] is not None:
            user.email_verified = bool(representation["emailVerified"])
        if attributes is not None:
            user.attributes = {str(key): _attribute_values(values) for key, values in attributes.items()}
        if actions is not None:
            user.required_actions = list(dict.fromkeys(actions))


def _attribute_values(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, list):
        return [str(v) for v in values]
    return [str(values)]
