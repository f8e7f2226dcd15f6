"""Password storage as Keycloak does it by default: salted PBKDF2-SHA256, never the clear text."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

__all__ = ["PasswordHash"]

ALGORITHM = "pbkdf2-sha256"
# Keycloak's historical default; its current 600 000 would make every login in a test slow.
ITERATIONS = 27_500


@dataclass(frozen=True)
class PasswordHash:
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    iterations: int = ITERATIONS
    algorithm: str = ALGORITHM

    @classmethod
    def of(cls, password: str, iterations: int = ITERATIONS) -> PasswordHash:
        salt = os.urandom(16)
        return cls(salt, _derive(password, salt, iterations), iterations)

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(self.digest, _derive(password, self.salt, self.iterations))


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
