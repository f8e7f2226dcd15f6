"""A realm's key checks a token's signature once, and refuses a forged one every time."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from sim.keycloak.keys import RealmKey


def test_a_token_is_checked_once_and_its_claims_are_the_callers_own(jwt_decodes: list[str]) -> None:
    key = RealmKey("kid-1", "customers", seed_value=7, issued_at=datetime(2026, 1, 1, tzinfo=UTC))
    token = key.sign({"sub": "u-1", "typ": "Bearer"})
    first = key.verify(token)
    first["sub"] = "changed by a caller"
    assert key.verify(token) == {"sub": "u-1", "typ": "Bearer"}
    assert jwt_decodes == [token]


def test_a_forged_or_foreign_token_is_refused_every_time(jwt_decodes: list[str]) -> None:
    key = RealmKey("kid-1", "customers", seed_value=7, issued_at=datetime(2026, 1, 1, tzinfo=UTC))
    other = RealmKey("kid-2", "admin", seed_value=7, issued_at=datetime(2026, 1, 1, tzinfo=UTC))
    forged = key.sign({"sub": "u-1"})[:-4] + "AAAA"
    foreign = other.sign({"sub": "u-1"})
    for _ in range(2):
        with pytest.raises(jwt.InvalidSignatureError):
            key.verify(forged)
        with pytest.raises(jwt.InvalidSignatureError, match="another key"):
            key.verify(foreign)
    assert jwt_decodes == [forged, forged]
