"""The panel's own small decisions: when a page keeps polling, where sign-in may send an operator
back to, how typed amounts become cents, and what the session derives rather than stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.admin.access import safe_next_path
from service.admin.pages import _amount_cents, still_changing
from service.admin.session import PanelSessions
from service.customers.domain import CustomerType
from service.customers.schemas import CustomerView, KycDetails, ProvisioningStepView
from service.ledger.domain import InvalidAmount
from service.settings import SettingsError, load_settings
from sim.keycloak.login import pkce_matches

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def customer(kyc: str = "not_started", activity: str = "inactive", reject_type: str | None = None,
             steps: dict[str, str] | None = None) -> CustomerView:
    return CustomerView(
        id=uuid.uuid4(), public_id="C1000", email="a@example.com", telegram_id=None,
        customer_type=CustomerType.INDIVIDUAL, kyc_status=kyc, verification_status="pending_verification",
        kyc_level="not_kyced", activity_status=activity, applicant_id=None, eligible_for_credit_facility=False,
        kyc=KycDetails(None, None, reject_type, [], None, None),
        provisioning={name: ProvisioningStepView(status, 1, None, NOW) for name, status in (steps or {}).items()},
        created_at=NOW, updated_at=NOW)


@pytest.mark.parametrize(("shown", "changing"), [
    (customer(), False),  # waits for an operator
    (customer("pending"), True),  # Sumsub will call back
    (customer("review_needed"), True),
    (customer("rejected", reject_type="RETRY"), True),  # the customer may resubmit
    (customer("rejected", reject_type="FINAL"), False),
    (customer("approved"), True),  # provisioning is coming
    (customer("approved", steps={"keycloak_user": "done", "welcome_email": "pending"}), True),
    (customer("approved", "active", steps={"keycloak_user": "done", "welcome_email": "done",
                                           "deposit_account": "done"}), False),
    (customer("approved", "suspended", steps={"keycloak_disabled": "pending"}), True),
    (customer("approved", "suspended", steps={"keycloak_disabled": "done", "deposit_frozen": "done"}), False),
])
def test_a_page_polls_while_something_but_an_operator_can_change_it(shown: CustomerView, changing: bool) -> None:
    assert still_changing(shown) is changing


@pytest.mark.parametrize(("asked", "sent_to"), [
    ("/admin/customers/C1000?created=1", "/admin/customers/C1000?created=1"),
    ("/admin/audit", "/admin/audit"),
    (None, "/admin/customers"),
    ("https://evil.example/admin", "/admin/customers"),
    ("//evil.example/admin", "/admin/customers"),
    ("/\\evil.example", "/admin/customers"),
    ("/api/customers", "/admin/customers"),
])
def test_sign_in_sends_back_only_to_a_page_of_the_panel(asked: str | None, sent_to: str) -> None:
    assert safe_next_path(asked) == sent_to


@pytest.mark.parametrize(("typed", "cents"), [("125", 12500), ("125.5", 12550), ("$1,250.05", 125005), ("0.01", 1)])
def test_amounts_are_typed_in_dollars(typed: str, cents: int) -> None:
    assert _amount_cents(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "1.005", "-5", "0", "NaN", "Infinity"])
def test_amounts_that_are_not_money_are_refused(typed: str) -> None:
    with pytest.raises(InvalidAmount):
        _amount_cents(typed)


def test_state_csrf_and_pkce_are_derived_from_the_cookie_and_the_secret() -> None:
    sessions: Any = None
    one = PanelSessions(sessions, "s" * 32, idle=NOW - NOW, lifetime=NOW - NOW)
    other = PanelSessions(sessions, "t" * 32, idle=NOW - NOW, lifetime=NOW - NOW)
    verifier = one.pkce_verifier("cookie")
    assert 43 <= len(verifier) <= 128
    assert pkce_matches(verifier, one.pkce_challenge("cookie"), "S256")
    assert one.csrf_matches("cookie", one.csrf_token("cookie"))
    assert not one.csrf_matches("cookie", other.csrf_token("cookie"))
    assert not one.csrf_matches("cookie", one.csrf_token("another cookie"))
    assert not one.csrf_matches("cookie", None)
    assert len({one.csrf_token("cookie"), one.oauth_state("cookie"), verifier}) == 3


def test_the_session_secret_comes_from_a_file_and_a_short_one_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "admin-session-secret"
    secret.write_text("x" * 40 + "\n")
    assert load_settings({"ADMIN_SESSION_SECRET_FILE": str(secret)}).admin_session_secret == "x" * 40
    with pytest.raises(SettingsError, match="ADMIN_SESSION_SECRET"):
        load_settings({"ADMIN_SESSION_SECRET": "too-short"})
