"""Quiet logs for scenario runs and notebooks: the service's warnings and errors, not its chatter.

The service configures logging when its app is made, at the level of its settings: a sandbox takes
``LOG_LEVEL`` from the environment, which ``quiet_logs`` sets; the libraries' loggers are quieted
again once a sandbox is up (``fresh_sandbox`` does it).
"""

from __future__ import annotations

import logging
import os

from service.logging import configure_logging

__all__ = ["quiet_logs", "requiet"]

_level: str | None = None


def quiet_logs(level: str = "ERROR") -> None:
    """The service's structured logs at ``level`` and above. The SMTP server's conversation and the
    queue's notes (a job that failed and will be retried, which an outage causes by design) stay
    out: the run's timeline shows every job and its outcome."""
    global _level
    _level = level
    os.environ["LOG_LEVEL"] = level  # for the sandboxes started after this, and the processes they start
    configure_logging(level)
    for chatty in ("mail.log", "saq", "uvicorn.error", "alembic"):
        logging.getLogger(chatty).setLevel(logging.CRITICAL)


def requiet() -> None:
    """Quiet again what a newly started service made loud, when logs were quieted before."""
    if _level is not None:
        quiet_logs(_level)
