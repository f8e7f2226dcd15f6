"""Waiting on a condition with a deadline, never for a fixed time (the one helper ``sim`` ships)."""

from __future__ import annotations

from sim.waiting import eventually

__all__ = ["eventually"]
