"""What every job of a worker process is given: typed, made once at the worker's start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from saq import Queue
from saq.types import Context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.provisioning.directory import CustomerDirectory
from service.settings import Settings

__all__ = ["WorkerContext", "WorkerResources", "resources"]


@dataclass(frozen=True)
class WorkerResources:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    queue: Queue
    # one Keycloak connection per worker process (so its token is reused); None without a service account
    directory: CustomerDirectory | None


class WorkerContext(Context, total=False):
    resources: WorkerResources


def resources(ctx: Context) -> WorkerResources:
    found = cast(WorkerContext, ctx).get("resources")
    if not isinstance(found, WorkerResources):
        raise RuntimeError("the worker was started without its resources")
    return found
