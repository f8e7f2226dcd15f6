"""A Keycloak that runs in-process: OIDC (discovery, JWKS, tokens, login pages), the admin users API
that python-keycloak speaks and the account API for a user's own profile, with realms (their
built-in clients and user profile), users and clients inspectable in Python."""

from sim.keycloak.fake import KeycloakFake
from sim.keycloak.journal import RecordedRequest, RequestJournal
from sim.keycloak.mail import ActionEmail
from sim.keycloak.realm import Client, Realm, RealmRole, User, UserQuery

__all__ = [
    "ActionEmail",
    "Client",
    "KeycloakFake",
    "Realm",
    "RealmRole",
    "RecordedRequest",
    "RequestJournal",
    "User",
    "UserQuery",
]
