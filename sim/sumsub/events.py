"""Webhook payloads, built from the templates in ``fixtures/sumsub/``.

A template is a real-shaped payload. It decides which keys an event type carries and in what order;
the applicant decides the values of the keys the fake models; every other key keeps the template's
value. So a new field seen in a real capture is one line in a JSON file, not a code change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sim.sumsub.applicants import Applicant, LifecycleEvent
from sim.sumsub.timestamps import event_timestamp_ms, review_timestamp

__all__ = ["DEFAULT_TEMPLATES_DIR", "TemplateError", "WebhookEvent", "WebhookPayloads"]

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sumsub"

_REQUIRED_KEYS = ("applicantId", "type", "correlationId", "createdAtMs")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class WebhookEvent:
    """One webhook as Sumsub would emit it: the payload and the exact bytes that get signed."""

    type: str
    applicant_id: str
    external_user_id: str
    correlation_id: str
    created_at_ms: int
    payload: Mapping[str, Any]
    body: bytes

    @property
    def created_at(self) -> float:
        return self.created_at_ms / 1000


class WebhookPayloads:
    def __init__(self, templates: Mapping[str, Mapping[str, Any]], *, sandbox_mode: bool = True) -> None:
        for event_type, template in templates.items():
            missing = [key for key in _REQUIRED_KEYS if key not in template]
            if missing:
                raise TemplateError(f"template {event_type} lacks {', '.join(missing)}")
            if template["type"] != event_type:
                raise TemplateError(f"template {event_type} says its type is {template['type']!r}")
        self.templates = MappingProxyType({k: dict(v) for k, v in templates.items()})
        self.sandbox_mode = sandbox_mode

    @classmethod
    def from_directory(cls, directory: Path = DEFAULT_TEMPLATES_DIR, *, sandbox_mode: bool = True) -> WebhookPayloads:
        templates: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.json")):
            try:
                template = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{path}: {exc}") from exc
            if not isinstance(template, dict):
                raise TemplateError(f"{path}: a template is a JSON object")
            templates[path.stem] = template
        if not templates:
            raise TemplateError(f"no webhook templates in {directory}")
        return cls(templates, sandbox_mode=sandbox_mode)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self.templates)

    def build(self, event: LifecycleEvent, applicant: Applicant, *, correlation_id: str, created_at_ms: int,
              overrides: Mapping[str, Any] | None = None) -> WebhookEvent:
        try:
            template = self.templates[event.type]
        except KeyError:
            raise TemplateError(f"no template for {event.type}; add fixtures/sumsub/{event.type}.json") from None
        modelled: dict[str, Any] = {
            "applicantId": applicant.id,
            "inspectionId": applicant.inspection_id,
            "applicantType": applicant.type,
            "correlationId": correlation_id,
            "levelName": applicant.level_name,
            "previousLevelName": event.previous_level_name,
            "sandboxMode": self.sandbox_mode,
            "externalUserId": applicant.external_user_id,
            "type": event.type,
            "reviewStatus": event.review_status,
            "createdAt": review_timestamp(created_at_ms // 1000),
            "createdAtMs": event_timestamp_ms(created_at_ms),
            "clientId": applicant.client_id,
        }
        if event.review_result is not None:
            modelled["reviewResult"] = event.review_result.to_payload()
        elif event.type == "applicantReviewed":
            raise ValueError("an applicantReviewed event needs a review result")
        payload: dict[str, Any] = {}
        for key, example in template.items():
            if key == "reviewResult" and "reviewResult" not in modelled:
                continue  # no result yet: Sumsub leaves the key out
            payload[key] = modelled.get(key, example)
        payload.update(overrides or {})
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return WebhookEvent(event.type, applicant.id, applicant.external_user_id, correlation_id, created_at_ms,
                            MappingProxyType(payload), body)
