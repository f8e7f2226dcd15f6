"""What route handlers may ask for by name, and where it comes from."""

from __future__ import annotations

from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.settings import Settings

__all__ = ["AppSettings", "JobQueue", "Sessions", "dependencies"]

Sessions: TypeAlias = NamedDependency[async_sessionmaker[AsyncSession]]
AppSettings: TypeAlias = NamedDependency[Settings]
JobQueue: TypeAlias = NamedDependency[Queue]


def _sessions(state: State) -> async_sessionmaker[AsyncSession]:
    return state.sessions  # type: ignore[no-any-return]


def _queue(state: State) -> Queue:
    return state.queue  # type: ignore[no-any-return]


def dependencies(settings: Settings) -> dict[str, Provide]:
    def _settings() -> Settings:
        return settings

    return {
        "settings": Provide(_settings, sync_to_thread=False),
        "sessions": Provide(_sessions, sync_to_thread=False),
        "queue": Provide(_queue, sync_to_thread=False),
    }
