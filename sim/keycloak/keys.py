"""A realm's RS256 signing key, its self-signed certificate and its JWK."""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["RealmKey"]

# RSA generation is the slowest step in building a fake, and tests build many: a process keeps one
# key per (seed, realm), which also makes a replayed run sign with the key it signed with before.
_generated: dict[tuple[int, str], rsa.RSAPrivateKey] = {}


def _private_key(seed_value: int, realm_name: str) -> rsa.RSAPrivateKey:
    key = _generated.get((seed_value, realm_name))
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _generated[(seed_value, realm_name)] = key
    return key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class RealmKey:
    algorithm = "RS256"
    VERIFIED_KEPT = 1024

    def __init__(self, kid: str, realm_name: str, *, seed_value: int, issued_at: datetime) -> None:
        self.kid = kid
        self.private_key = _private_key(seed_value, realm_name)
        self.public_key = self.private_key.public_key()
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Keycloak names the certificate after the realm and lets it live for ten years.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, realm_name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.public_key)
            .serial_number(int(hashlib.sha256(kid.encode()).hexdigest()[:16], 16))
            .not_valid_before(issued_at)
            .not_valid_after(issued_at + timedelta(days=3650))
            .sign(self.private_key, hashes.SHA256())
        )

    def jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "kid": self.kid,
            "kty": "RSA",
            "alg": self.algorithm,
            "use": "sig",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "x5c": [base64.b64encode(der).decode()],
            "x5t": base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode(),  # noqa: S324 (the JWK thumbprint is defined on SHA-1)
            "x5t#S256": base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode(),
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm,
                          headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str) -> dict[str, Any]:
        """Check the signature only; what time it is belongs to the caller's clock, not the wall's.
        A token that held is kept (a client sends its admin token with every request, and the RSA
        check was most of the fake's work on one): the key never changes, so neither does the answer."""
        claims = self._verified.get(token)
        if claims is None:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                raise jwt.InvalidSignatureError("signed by another key")
            claims = jwt.decode(
                token, self.public_key, algorithms=[self.algorithm],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
            self._verified[token] = claims
            # the oldest goes first; a read never reorders, since the admin API's handlers run on threads
            if len(self._verified) > self.VERIFIED_KEPT:
                self._verified.popitem(last=False)
        return dict(claims)
