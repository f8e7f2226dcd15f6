"""The two signatures against answers computed elsewhere: pinned hex from OpenSSL
(``printf '%s' '<message>' | openssl dgst -sha256 -hmac '<secret>'``) and plain ``hmac`` here."""

import hashlib
import hmac

import pytest

from sim.sumsub.signing import (
    payload_digest,
    request_signature,
    signed_request_headers,
    verify_payload_digest,
    verify_request_signature,
)

SECRET = "Hej2ch71kG2kTd1iIUDZFNsO5C1lh5Gq"
TS = 1607551635
CREATE_PATH = "/resources/applicants?levelName=basic-kyc-level"
CREATE_BODY = b'{"externalUserId":"0b8f4a52-1c7e-4d2a-9a51-3e6f0c2d8b71"}'
# computed with OpenSSL over the concatenation, no separators
CREATE_SIGNATURE = "9463c1e2a37588128b93c345df806b153833b61559639d6a79296ef84ad46c6c"
ESCAPED_GET_PATH = "/resources/applicants/-;externalUserId=user%2042%40bank/one"
ESCAPED_GET_SIGNATURE = "d8542ee91c7dccb29e3a36d3e2e3d31ed43b7853c8d8c0514149d6fa07b64697"


def test_request_signature_matches_the_known_answer() -> None:
    assert request_signature(SECRET, TS, "POST", CREATE_PATH, CREATE_BODY) == CREATE_SIGNATURE


def test_request_signature_is_hmac_sha256_over_ts_method_path_and_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1607551635POST" + CREATE_PATH.encode() + CREATE_BODY,
                        hashlib.sha256).hexdigest()
    assert request_signature(SECRET, str(TS), "post", CREATE_PATH.encode(), CREATE_BODY.decode()) == expected


def test_a_bodyless_call_signs_the_escaped_path_as_sent_and_nothing_after_it() -> None:
    assert request_signature(SECRET, TS, "GET", ESCAPED_GET_PATH) == ESCAPED_GET_SIGNATURE
    unescaped = "/resources/applicants/-;externalUserId=user 42@bank/one"
    assert request_signature(SECRET, TS, "GET", unescaped) != ESCAPED_GET_SIGNATURE


def test_signed_headers_carry_token_timestamp_and_signature() -> None:
    headers = signed_request_headers("sbx:abc.def", SECRET, "POST", CREATE_PATH, CREATE_BODY, ts=TS)
    assert headers == {"X-App-Token": "sbx:abc.def", "X-App-Access-Ts": "1607551635",
                       "X-App-Access-Sig": CREATE_SIGNATURE}


@pytest.mark.parametrize(("changed", "value"), [
    ("secret", "another-secret"), ("ts", TS + 1), ("method", "PUT"),
    ("path", "/resources/applicants?levelName=other-level"), ("body", CREATE_BODY + b" "),
])
def test_any_change_to_a_signed_part_breaks_the_signature(changed: str, value: object) -> None:
    parts: dict[str, object] = {"secret": SECRET, "ts": TS, "method": "POST", "path": CREATE_PATH,
                                "body": CREATE_BODY}
    parts[changed] = value
    assert not verify_request_signature(parts["secret"], parts["ts"], parts["method"],  # type: ignore[arg-type]
                                        parts["path"], parts["body"], CREATE_SIGNATURE)  # type: ignore[arg-type]
    assert verify_request_signature(SECRET, TS, "POST", CREATE_PATH, CREATE_BODY, CREATE_SIGNATURE.upper())


# OpenSSL, keyed with "whsec", over b'{"type":"applicantCreated"}'
WEBHOOK_BODY = b'{"type":"applicantCreated"}'
KNOWN_DIGESTS = {
    "HMAC_SHA1_HEX": "f4d9455756f62e7e0b875b49d85e730e52f0e976",
    "HMAC_SHA256_HEX": "a05fafa454698608af44faead62cac8ceee80ed2b7bd5fbe0aa260a9fb58abd3",
    "HMAC_SHA512_HEX": "3429dac0089d49f4c62b26c85efae8dc295110ff491f75c5c5190ef3dad06a818fa55d860666ff17b319861f"
                       "83649125ee8d8defb768b1af6bdbb9ea7eceff8b",
}


@pytest.mark.parametrize(("alg", "hash_name"), [
    ("HMAC_SHA1_HEX", "sha1"), ("HMAC_SHA256_HEX", "sha256"), ("HMAC_SHA512_HEX", "sha512"),
])
def test_payload_digest_is_lowercase_hex_hmac_of_the_raw_body(alg: str, hash_name: str) -> None:
    digest = payload_digest("whsec", WEBHOOK_BODY, alg)
    assert digest == KNOWN_DIGESTS[alg]
    assert digest == hmac.new(b"whsec", WEBHOOK_BODY, hash_name).hexdigest()
    assert verify_payload_digest("whsec", WEBHOOK_BODY, digest, alg)
    assert verify_payload_digest("whsec", WEBHOOK_BODY, digest.upper(), alg)


def test_payload_digest_verification_refuses_what_it_should() -> None:
    digest = payload_digest("whsec", WEBHOOK_BODY, "HMAC_SHA256_HEX")
    assert not verify_payload_digest("whsec", WEBHOOK_BODY + b" ", digest, "HMAC_SHA256_HEX")
    assert not verify_payload_digest("other", WEBHOOK_BODY, digest, "HMAC_SHA256_HEX")
    assert not verify_payload_digest("whsec", WEBHOOK_BODY, digest, "HMAC_SHA512_HEX")
    assert not verify_payload_digest("whsec", WEBHOOK_BODY, digest, "HMAC_MD5_HEX")
    assert not verify_payload_digest("whsec", WEBHOOK_BODY, None, "HMAC_SHA256_HEX")
    assert not verify_payload_digest("whsec", WEBHOOK_BODY, digest, None)
    with pytest.raises(ValueError, match="HMAC_SHA256_HEX"):
        payload_digest("whsec", WEBHOOK_BODY, "SHA256")
