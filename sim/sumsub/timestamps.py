"""The three ways Sumsub writes a moment, all UTC.

- applicant ``createdAt``: ``2026-05-04 09:12:40``
- review dates and the older webhook ``createdAt``: ``2026-05-04 09:12:40+0000``
- webhook ``createdAtMs``: ``2026-05-04 09:12:40.118``
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["applicant_timestamp", "event_timestamp_ms", "review_timestamp"]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def applicant_timestamp(seconds: float) -> str:
    return _utc(seconds).strftime("%Y-%m-%d %H:%M:%S")


def review_timestamp(seconds: float) -> str:
    return _utc(seconds).strftime("%Y-%m-%d %H:%M:%S+0000")


def event_timestamp_ms(milliseconds: int) -> str:
    # from integer milliseconds, so that float rounding never writes .999 for a whole second
    whole, millis = divmod(milliseconds, 1000)
    return f"{_utc(whole).strftime('%Y-%m-%d %H:%M:%S')}.{millis:03d}"
