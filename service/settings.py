"""Typed settings read from the environment and an optional dotenv file.

Every value is validated when the process starts; a bad one stops it with a message that names
the variable. Secrets may be given directly or as ``<NAME>_FILE`` pointing at a file that holds
them, so they never have to sit in the code or in a committed file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["DEFAULT_ROLE_PERMISSIONS", "Settings", "SettingsError", "load_settings", "read_dotenv"]

DEFAULT_ROLE_PERMISSIONS: dict[str, list[str]] = {
    "operator": [
        "CUSTOMER_CREATE",
        "CUSTOMER_READ",
        "CUSTOMER_UPDATE",
        "ACCOUNT_READ",
        "DEPOSIT_CREATE",
        "WITHDRAWAL_CREATE",
        "AUDIT_READ",
        "QUEUE_READ",
        "QUEUE_MANAGE",
    ],
    "viewer": ["CUSTOMER_READ", "ACCOUNT_READ", "QUEUE_READ"],
}


# the last resort of ``signing_key``: valid in this process only
_PROCESS_SECRET = secrets.token_hex(32)


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    # Database and queue. No DATABASE_URL: a private embedded PostgreSQL is started.
    database_url: str | None = None
    queue_url: str | None = None
    queue_name: str = "onboarding"
    database_pool_size: int = 20

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = False

    # Operators and customers authenticate with Keycloak-issued JWTs.
    keycloak_url: str = "http://127.0.0.1:8080/"
    keycloak_admin_realm: str = "admin"
    keycloak_customer_realm: str = "customer"
    keycloak_client_id: str = "onboarding-service"
    keycloak_client_secret: str | None = None
    # Operator endpoints take only tokens issued to these clients of the admin realm (their "azp")
    # and, when SERVICE_AUDIENCE is set, carrying it in "aud" (an audience mapper on those clients).
    # Comma-separated or a JSON array.
    operator_client_ids: list[str] = msgspec.field(default_factory=lambda: ["onboarding-admin-panel"])
    service_audience: str | None = None
    # /portal/* takes only customers' tokens issued to this client of the customer realm
    portal_client_id: str = "customer-portal"
    jwks_cache_seconds: int = 300
    # the public client that Swagger UI's Authorize button logs in through (authorization code + PKCE)
    openapi_client_id: str | None = None
    role_permissions: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ROLE_PERMISSIONS.items()}
    )

    # Sumsub
    sumsub_url: str = "https://api.sumsub.com"
    sumsub_app_token: str | None = None
    sumsub_secret_key: str | None = None
    sumsub_webhook_secret: str | None = None
    sumsub_kyc_level: str = "basic-kyc-level"
    sumsub_kyb_level: str = "basic-kyb-level"
    webhook_max_body_bytes: int = 1_048_576

    # SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "onboarding@bank.example"
    portal_url: str = "http://127.0.0.1:8000/portal"

    # Jobs: every side effect retries with exponential backoff and jitter until it succeeds or,
    # after JOB_MAX_ATTEMPTS, is marked failed for an operator to see
    job_max_attempts: int = 30
    job_backoff_base_seconds: float = 1.0
    job_backoff_max_seconds: float = 3600.0
    job_timeout_seconds: int = 30
    # how often a worker looks for jobs whose worker died (past their timeout) to run them again
    worker_sweep_seconds: int = 10
    # jobs one worker process runs at once; most of a job's time is spent waiting on the network
    worker_concurrency: int = 20
    outbox_poll_seconds: float = 5.0
    keycloak_timeout_seconds: int = 10
    smtp_timeout_seconds: float = 10.0
    smtp_username: str | None = None
    smtp_password: str | None = None

    # Customer list
    page_size_default: int = 20
    page_size_max: int = 100
    # signs the list's cursors; unset, a key is derived from the service's other secrets (the same in
    # every process that shares them), or made anew per process when there are none
    cursor_secret: str | None = None

    # Admin panel (/admin): operators sign in through this client of the admin realm (authorization
    # code + PKCE). The secret keys the panel's session ids and CSRF tokens; without it the panel
    # refuses to sign anyone in. Sessions end after the idle time, and in any case after the maximum.
    admin_client_id: str = "onboarding-admin-panel"
    admin_session_secret: str | None = None
    admin_session_idle_minutes: int = 30
    admin_session_max_hours: int = 8

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("PORT", 0 < self.port < 65536, "must be a TCP port (1-65535)"),
            ("DATABASE_POOL_SIZE", self.database_pool_size > 0, "must be positive"),
            ("PAGE_SIZE_DEFAULT", 0 < self.page_size_default <= self.page_size_max,
             "must be between 1 and PAGE_SIZE_MAX"),
            ("WEBHOOK_MAX_BODY_BYTES", self.webhook_max_body_bytes > 0, "must be positive"),
            ("JWKS_CACHE_SECONDS", self.jwks_cache_seconds >= 0, "must not be negative"),
            ("JOB_MAX_ATTEMPTS", self.job_max_attempts >= 1, "must be at least 1"),
            ("JOB_BACKOFF_BASE_SECONDS", self.job_backoff_base_seconds > 0, "must be positive"),
            ("JOB_BACKOFF_MAX_SECONDS", self.job_backoff_max_seconds >= self.job_backoff_base_seconds,
             "must be at least JOB_BACKOFF_BASE_SECONDS"),
            ("OUTBOX_POLL_SECONDS", self.outbox_poll_seconds > 0, "must be positive"),
            ("WORKER_CONCURRENCY", self.worker_concurrency >= 1, "must be at least 1"),
            ("ADMIN_SESSION_IDLE_MINUTES", self.admin_session_idle_minutes >= 1, "must be at least 1"),
            ("ADMIN_SESSION_MAX_HOURS", self.admin_session_max_hours >= 1, "must be at least 1"),
            ("ADMIN_SESSION_SECRET", self.admin_session_secret is None or len(self.admin_session_secret) >= 32,
             "must be at least 32 characters"),
            ("LOG_LEVEL", self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
             "must be DEBUG, INFO, WARNING or ERROR"),
            ("OPERATOR_CLIENT_IDS", bool(self.operator_client_ids) and all(c.strip() for c in self.operator_client_ids),
             "must name at least one client, and no empty one"),
            ("SERVICE_AUDIENCE", self.service_audience is None or bool(self.service_audience.strip()),
             "must not be empty (leave it unset to not check the audience)"),
            ("PORTAL_CLIENT_ID", bool(self.portal_client_id.strip()), "must not be empty"),
        ]
        if self.database_url is not None:
            checks.append(("DATABASE_URL", self.database_url.startswith(("postgresql", "postgres://")),
                           "must be a postgresql:// URL"))
        if self.queue_url is not None:
            checks.append(("QUEUE_URL", self.queue_url.startswith(("redis://", "rediss://", "postgres")),
                           "must be a redis:// URL (or a postgresql:// one)"))
        for variable, ok, why in checks:
            if not ok:
                raise SettingsError(f"{variable} {why}")

    def signing_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` (e.g. cursors): from CURSOR_SECRET, else derived from the service's
        other secrets, so every process configured alike signs alike."""
        base = self.cursor_secret or "|".join(
            s for s in (self.sumsub_webhook_secret, self.sumsub_secret_key, self.keycloak_client_secret) if s)
        if not base:
            base = _PROCESS_SECRET
        return hmac.new(base.encode(), purpose.encode(), hashlib.sha256).digest()

    @property
    def admin_issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.keycloak_admin_realm}"

    @property
    def customer_issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.keycloak_customer_realm}"


_SECRETS = ("database_url", "queue_url", "keycloak_client_secret", "sumsub_app_token",
            "sumsub_secret_key", "sumsub_webhook_secret", "smtp_password", "cursor_secret",
            "admin_session_secret")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a dotenv file: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        if not sep:
            raise SettingsError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _client_ids(value: str) -> list[str]:
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"OPERATOR_CLIENT_IDS is neither a JSON array nor comma-separated: {exc}") from exc
        if not isinstance(parsed, list) or not all(isinstance(c, str) for c in parsed):
            raise SettingsError("OPERATOR_CLIENT_IDS must be a JSON array of client ids")
        return [c.strip() for c in parsed]
    return [c.strip() for c in value.split(",") if c.strip()]


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``environ`` (default: the process environment and ``ENV_FILE``).

    The dotenv file named by ``ENV_FILE`` (default ``.env`` when it exists) fills in what the
    environment does not set. Keyword overrides win over both; tests use them.
    """
    if environ is None:
        environ = dict(os.environ)
        env_file = Path(environ.get("ENV_FILE", ".env"))
        if env_file.is_file():
            environ = {**read_dotenv(env_file), **environ}
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        variable = field.name.upper()
        if variable in environ:
            raw[field.name] = environ[variable]
        elif field.name in _SECRETS and f"{variable}_FILE" in environ:
            secret_path = Path(environ[f"{variable}_FILE"])
            try:
                raw[field.name] = secret_path.read_text().strip()
            except OSError as exc:
                raise SettingsError(f"{variable}_FILE: cannot read {secret_path}: {exc.strerror}") from exc
    if isinstance(raw.get("role_permissions"), str):
        try:
            raw["role_permissions"] = json.loads(raw["role_permissions"])
        except json.JSONDecodeError as exc:
            raise SettingsError(f"ROLE_PERMISSIONS must be a JSON object of role -> [permission]: {exc}") from exc
    if isinstance(raw.get("operator_client_ids"), str):
        raw["operator_client_ids"] = _client_ids(raw["operator_client_ids"])
    raw.update(overrides)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "Expected `int`, got `str` - at `$.port`": name the variable instead.
        message = str(exc)
        if " - at `$." in message:
            what, _, where = message.partition(" - at `$.")
            field_name = where.split("`")[0].split(".")[0].split("[")[0]
            raise SettingsError(f"{field_name.upper()}: {what}") from exc
        raise SettingsError(message) from exc
