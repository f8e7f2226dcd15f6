"""Quiet logs for scenario runs and notebooks: the service's warnings and errors, not its chatter.

The service configures logging when its app is made (at the level of its settings), so a sandbox
started after ``quiet_logs()`` is quieted again once it is up (``fresh_sandbox`` does it; a notebook
that starts a ``Sandbox`` itself calls ``quiet_logs()`` after ``start()``).
"""

from __future__ import annotations

import logging

from service.logging import configure_logging

__all__ = ["quiet_logs", "requiet"]

_level: str | None = None


def quiet_logs(level: str = "ERROR") -> None:
    """The service's structured logs at ``level`` and above. The SMTP server's conversation and the
    queue's notes (a job that failed and will be retried, which an outage causes by design) stay
    out: the run's timeline shows every job and its outcome."""
    global _level
    _level = level
    configure_logging(level)
    for chatty in ("mail.log", "saq", "uvicorn.error", "alembic"):
        logging.getLogger(chatty).setLevel(logging.CRITICAL)


def requiet() -> None:
    """Quiet again what a newly started service made loud, when logs were quieted before."""
    if _level is not None:
        quiet_logs(_level)
