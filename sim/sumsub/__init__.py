"""A faithful fake of Sumsub: the signed REST API, the applicant lifecycle, and signed webhooks with
Sumsub's retry ladder, sent through a programmable ``sim.network.WebhookNetwork``.

``sim.sumsub.signing`` holds the two signatures as pure functions, for the service's client too.
"""

from sim.sumsub import scripts
from sim.sumsub.app import ApiRequest
from sim.sumsub.applicants import (
    FINAL_REJECT_LABELS,
    RETRY_REJECT_LABELS,
    Applicant,
    ApplicantNotFound,
    DuplicateApplicant,
    LifecycleEvent,
    Review,
    ReviewResult,
    TransitionNotAllowed,
)
from sim.sumsub.events import WebhookEvent, WebhookPayloads
from sim.sumsub.fake import Permalink, SumsubFake
from sim.sumsub.signing import (
    DEFAULT_DIGEST_ALG,
    DIGEST_ALGORITHMS,
    DigestAlg,
    payload_digest,
    request_signature,
    signed_request_headers,
    verify_payload_digest,
    verify_request_signature,
)
from sim.sumsub.webhooks import RETRY_DELAYS, DeliveryAttempt, WebhookDelivery, WebhookSender

__all__ = [
    "DEFAULT_DIGEST_ALG",
    "DIGEST_ALGORITHMS",
    "FINAL_REJECT_LABELS",
    "RETRY_DELAYS",
    "RETRY_REJECT_LABELS",
    "ApiRequest",
    "Applicant",
    "ApplicantNotFound",
    "DeliveryAttempt",
    "DigestAlg",
    "DuplicateApplicant",
    "LifecycleEvent",
    "Permalink",
    "Review",
    "ReviewResult",
    "SumsubFake",
    "TransitionNotAllowed",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookPayloads",
    "WebhookSender",
    "payload_digest",
    "request_signature",
    "scripts",
    "signed_request_headers",
    "verify_payload_digest",
    "verify_request_signature",
]
